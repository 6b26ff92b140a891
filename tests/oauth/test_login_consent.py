"""The login and consent pages: Django auth against the tenant's users, CSRF,
frame-ancestors 'none', throttling per user and per IP, remembered consent."""

import secrets

import pytest
from django.test import Client

from tests.support.factories import (
    authorize_params,
    make_user,
    make_web_client,
    post_form,
    query_of,
    signed_in,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def throttle_limits(settings):
    settings.GATEHOUSE = {
        **settings.GATEHOUSE,
        "LOGIN_THROTTLE": {
            "USER_IP_ATTEMPTS": 3,
            "USER_ATTEMPTS": 6,
            "USER_SLOW_SECONDS": 60,
            "IP_ATTEMPTS": 8,
            "PLATFORM_IP_ATTEMPTS": 12,
            "WINDOW_SECONDS": 300,
        },
    }


def random_ip() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"


def login(web, username, password, ip=None, next_url="/"):
    ip = ip or f"10.9.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    return post_form(
        web,
        "/oauth/login",
        {"username": username, "password": password, "next": next_url},
        REMOTE_ADDR=ip,
    )


def test_login_page_is_csrf_protected_and_never_framed(tenant):
    web = Client(enforce_csrf_checks=True, HTTP_HOST=tenant.host)
    page = web.get("/oauth/login", secure=True)
    assert page.status_code == 200
    assert page["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert page["X-Frame-Options"] == "DENY"
    assert b"csrfmiddlewaretoken" in page.content
    user = make_user(tenant)
    forged = post_form(
        web, "/oauth/login", {"username": user.username, "password": user.raw_password}
    )
    assert forged.status_code == 403  # no CSRF token


def test_login_with_the_tenants_user_and_the_right_password(tenant):
    user = make_user(tenant)
    web = tenant.client()
    response = login(web, user.username, user.raw_password, next_url="/oauth/authorize?x=1")
    assert response.status_code == 302 and response["Location"] == "/oauth/authorize?x=1"
    with tenant.context():
        from django.contrib.sessions.models import Session

        session = Session.objects.get(session_key=web.cookies["sessionid"].value)
        assert session.get_decoded()["_auth_user_id"] == str(user.pk)
        assert session.get_decoded()["gatehouse_auth_time"] > 0


def test_user_of_another_tenant_cannot_log_in(tenant_a, tenant_b):
    user = make_user(tenant_a)
    response = login(tenant_b.client(), user.username, user.raw_password)
    assert response.status_code == 400
    assert b"not correct" in response.content


@pytest.mark.parametrize("target", ["https://evil.example.com/", "//evil.example.com/x"])
def test_next_is_never_an_open_redirect(tenant, target):
    user = make_user(tenant)
    response = login(tenant.client(), user.username, user.raw_password, next_url=target)
    assert response["Location"] == "/"


def test_wrong_password_and_unknown_user_get_the_same_answer(tenant):
    user = make_user(tenant)
    wrong = login(tenant.client(), user.username, "wrong-password-123")
    unknown = login(tenant.client(), "nobody-" + secrets.token_hex(4), "wrong-password-123")
    assert wrong.status_code == unknown.status_code == 400
    assert b"The user name or password is not correct." in wrong.content
    assert b"The user name or password is not correct." in unknown.content


def test_throttled_per_user_and_ip_with_429_and_retry_after(tenant, throttle_limits):
    user = make_user(tenant)
    ip = random_ip()
    for _ in range(3):
        assert login(tenant.client(), user.username, "wrong-password-123", ip).status_code == 400
    blocked = login(tenant.client(), user.username, user.raw_password, ip)  # even the right one
    assert blocked.status_code == 429
    assert 0 < int(blocked["Retry-After"]) <= 300
    assert blocked["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert b"Try again in" in blocked.content


def test_a_strangers_failures_do_not_lock_the_real_user_out(tenant, throttle_limits):
    """The hard limit is per (user name, IP): a stranger guessing a known admin's password
    locks out only their own address."""
    user = make_user(tenant)
    stranger = random_ip()
    answers = [
        login(tenant.client(), user.username, "wrong-password-123", stranger).status_code
        for _ in range(5)
    ]
    assert answers == [400, 400, 400, 429, 429]
    assert login(tenant.client(), user.username, user.raw_password, random_ip()).status_code == 302


def test_many_addresses_slow_a_user_name_down_rather_than_lock_it(tenant, throttle_limits):
    """Past USER_ATTEMPTS from anywhere, one attempt per USER_SLOW_SECONDS: the wait is
    seconds, not the window."""
    user = make_user(tenant)
    for _ in range(6):
        assert login(
            tenant.client(), user.username, "wrong-password-1", random_ip()
        ).status_code == (400)
    assert login(tenant.client(), user.username, "wrong-password-1", random_ip()).status_code == (
        400  # the slow lane's one attempt
    )
    slowed = login(tenant.client(), user.username, user.raw_password, random_ip())
    assert slowed.status_code == 429
    assert 0 < int(slowed["Retry-After"]) <= 60


def test_a_successful_sign_in_does_not_count(tenant, throttle_limits):
    user = make_user(tenant)
    ip = random_ip()
    for _ in range(5):
        assert login(tenant.client(), user.username, user.raw_password, ip).status_code == 302
    for _ in range(3):
        assert login(tenant.client(), user.username, "wrong-password-123", ip).status_code == 400


def test_throttled_the_same_for_unknown_users(tenant, throttle_limits):
    name = "ghost-" + secrets.token_hex(4)
    ip = random_ip()
    answers = [login(tenant.client(), name, "wrong-password-123", ip).status_code for _ in range(4)]
    assert answers == [400, 400, 400, 429]


def test_throttled_per_ip_across_user_names(tenant, throttle_limits):
    ip = random_ip()
    for i in range(8):
        login(tenant.client(), f"spray-{i}-{secrets.token_hex(3)}", "wrong-password-123", ip)
    user = make_user(tenant)
    assert login(tenant.client(), user.username, user.raw_password, ip).status_code == 429
    assert login(tenant.client(), user.username, user.raw_password).status_code == 302


def test_an_address_throttled_at_one_tenant_is_not_fresh_at_the_next(
    tenant_a, tenant_b, throttle_limits
):
    """The platform-wide per-IP ceiling counts across tenants (12 here, 8 per tenant)."""
    ip = random_ip()
    for i in range(8):
        login(tenant_a.client(), f"spray-{i}-{secrets.token_hex(3)}", "wrong-password-123", ip)
    answers = [
        login(
            tenant_b.client(), f"spray-b{i}-{secrets.token_hex(3)}", "wrong-pw-123", ip
        ).status_code
        for i in range(5)
    ]
    assert answers == [400, 400, 400, 400, 429]
    user = make_user(tenant_b)
    assert login(tenant_b.client(), user.username, user.raw_password, random_ip()).status_code == (
        302
    )


def test_throttle_counters_are_per_tenant(tenant_a, tenant_b, throttle_limits):
    name = "shared-" + secrets.token_hex(4)
    ip = random_ip()
    for _ in range(3):
        login(tenant_a.client(), name, "wrong-password-123", ip)
    assert login(tenant_a.client(), name, "wrong-password-123", ip).status_code == 429
    assert login(tenant_b.client(), name, "wrong-password-123", ip).status_code == 400


@pytest.mark.parametrize(
    "target", ["/account/\r\nSet-Cookie: x=1", "/a\nb", "/a\rb", "/tab\there", "/del\x7f"]
)
def test_a_next_with_control_characters_falls_back_to_the_default(tenant, target):
    """A CR or LF in ``next`` used to answer a 500 and lose the sign-in."""
    user = make_user(tenant)
    response = login(tenant.client(), user.username, user.raw_password, next_url=target)
    assert response.status_code == 302 and response["Location"] == "/"
    page = tenant.client().get("/oauth/login", {"next": target}, secure=True)
    assert page.status_code == 200
    assert b'name="next" value="/"' in page.content


def test_consent_page_shows_client_and_scopes_in_words(tenant):
    client = make_web_client(tenant, name="Acme Dashboard")
    web = signed_in(tenant, make_user(tenant))
    page = web.get(
        "/oauth/authorize", authorize_params(client, scope="openid profile api"), secure=True
    )
    assert page.status_code == 200
    assert b"Acme Dashboard" in page.content
    assert b"See your name and profile" in page.content
    assert b"Confirm who you are" in page.content
    assert "Use “api”".encode() in page.content


def test_consent_is_csrf_protected(tenant):
    client = make_web_client(tenant)
    user = make_user(tenant)
    web = Client(enforce_csrf_checks=True, HTTP_HOST=tenant.host)
    with tenant.context():
        web.force_login(user)
    params = authorize_params(client)
    response = post_form(web, "/oauth/consent", {**params, "decision": "allow"})
    assert response.status_code == 403
    assert "Location" not in response


def test_deny_is_access_denied(tenant):
    client = make_web_client(tenant)
    web = signed_in(tenant, make_user(tenant))
    params = authorize_params(client)
    response = post_form(web, "/oauth/consent", {**params, "decision": "deny"})
    query = query_of(response["Location"])
    assert query["error"] == "access_denied"
    assert query["state"] == params["state"] and query["iss"] == tenant.issuer


def test_consent_is_remembered_per_user_and_client_and_prompt_consent_forces_it(tenant):
    client = make_web_client(tenant)
    user = make_user(tenant)
    web = signed_in(tenant, user)
    params = authorize_params(client)
    assert web.get("/oauth/authorize", params, secure=True).status_code == 200
    post_form(web, "/oauth/consent", {**params, "decision": "allow"})
    again = web.get("/oauth/authorize", params, secure=True)
    assert again.status_code == 302 and "code" in query_of(again["Location"])
    narrower = web.get("/oauth/authorize", {**params, "scope": "read"}, secure=True)
    assert narrower.status_code == 302
    wider = web.get("/oauth/authorize", {**params, "scope": "api read openid"}, secure=True)
    assert wider.status_code == 200  # a new scope needs consent
    forced = web.get("/oauth/authorize", {**params, "prompt": "consent"}, secure=True)
    assert forced.status_code == 200
    other_user = signed_in(tenant, make_user(tenant))
    assert other_user.get("/oauth/authorize", params, secure=True).status_code == 200
    other_client = make_web_client(tenant)
    assert (
        web.get("/oauth/authorize", authorize_params(other_client), secure=True).status_code == 200
    )


def test_consent_form_tampered_to_another_redirect_uri_is_refused(tenant):
    client = make_web_client(tenant)
    web = signed_in(tenant, make_user(tenant))
    params = {**authorize_params(client), "redirect_uri": "https://evil.example.com/cb"}
    response = post_form(web, "/oauth/consent", {**params, "decision": "allow"})
    assert response.status_code == 400
    assert "Location" not in response


def test_consent_needs_a_session(tenant):
    client = make_web_client(tenant)
    response = post_form(
        tenant.client(), "/oauth/consent", {**authorize_params(client), "decision": "allow"}
    )
    assert response.status_code == 403


def test_padding_a_user_name_does_not_reset_its_throttle(tenant, throttle_limits):
    """The throttle keys on the name as the form reads it (stripped), not on a cut of the raw
    value: padding past 150 characters must not open fresh counters."""
    user = make_user(tenant, username="victim.example")
    ip = random_ip()
    for i in range(3):
        assert login(tenant.client(), user.username, f"wrong-{i}-password", ip).status_code == 400
    padded = " " * (152 - len(user.username)) + user.username
    assert login(tenant.client(), padded, user.raw_password, ip).status_code == 429
    assert login(tenant.client(), f"  {user.username}  ", user.raw_password, ip).status_code == 429
