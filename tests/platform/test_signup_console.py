"""Public signup -> one-time handoff -> the new tenant's console; the console's walls."""

import re

import pytest
from django.conf import settings

from tenants.views import signup_limit
from tests.support.secrets import remember_secret
from tests.support.tenants import https_client

pytestmark = pytest.mark.django_db
PASSWORD = "signup-password-Zq81"


def _signup(default_slug: str, *, client=None, **overrides):
    remember_secret(PASSWORD)
    client = client or https_client(settings.GATEHOUSE_BASE_DOMAIN)
    slug = overrides.get("slug", default_slug)
    data = {
        "name": f"{slug.title()} Org",
        "slug": slug,
        "email": f"owner@{slug}.test",
        "password": PASSWORD,
        "password_again": PASSWORD,
        **overrides,
    }
    return client.post("/signup/", data)


@pytest.fixture(autouse=True)
def _no_signup_throttle_carry_over():
    signup_limit().reset("127.0.0.1")
    yield
    signup_limit().reset("127.0.0.1")


def _use_up_signups(ip: str) -> None:
    limit = signup_limit()
    for _ in range(limit.limit):
        limit.hit(ip)


def _handoff_token(page) -> str:
    match = re.search(r'name="token" value="([^"]+)"', page.content.decode())
    assert match, page.content
    return remember_secret(match.group(1))


def test_signup_provisions_and_hands_over_to_the_console_once():
    page = _signup("newco")
    assert page.status_code == 200
    assert b"https://newco.gatehouse.test/console/handoff/" in page.content
    assert page["Referrer-Policy"] == "no-referrer"
    token = _handoff_token(page)

    console = https_client("newco.gatehouse.test")
    landed = console.post("/console/handoff/", {"token": token})
    assert landed.status_code == 302 and landed["Location"] == "/console/"
    home = console.get("/console/")
    assert home.status_code == 200 and b"Newco Org" in home.content
    assert b"https://newco.gatehouse.test/.well-known/openid-configuration" in home.content

    replay = https_client("newco.gatehouse.test").post("/console/handoff/", {"token": token})
    assert replay.status_code == 400 and b"expired" in replay.content


def test_handoff_token_means_nothing_at_another_tenant(tenant_b):
    token = _handoff_token(_signup("otherco"))
    elsewhere = tenant_b.client().post("/console/handoff/", {"token": token})
    assert elsewhere.status_code == 400
    # and it still works where it belongs
    home = https_client("otherco.gatehouse.test").post("/console/handoff/", {"token": token})
    assert home.status_code == 302


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"slug": "www"}, b"reserved"),
        ({"slug": "alpha"}, b"already exists"),
        ({"slug": "x"}, b"invalid slug"),
        ({"password_again": "something-else-1"}, b"The two passwords differ"),
        ({"password": "short", "password_again": "short"}, b"password"),
    ],
)
def test_signup_refusals_are_readable(overrides, says, two_tenants):
    page = _signup("refused", **overrides)
    assert page.status_code == 400
    assert says in page.content


def test_signup_form_is_csrf_protected():
    client = https_client(settings.GATEHOUSE_BASE_DOMAIN, enforce_csrf_checks=True)
    assert client.get("/signup/").status_code == 200
    refused = _signup("nocsrf", client=client)
    assert refused.status_code == 403


def test_signup_throttled_per_ip():
    _use_up_signups("127.0.0.1")
    try:
        page = _signup("throttled")
        assert page.status_code == 429 and page["Retry-After"]
    finally:
        signup_limit().reset("127.0.0.1")


def _staff_client(tenant):
    from kernel.accounts.models import User

    client = tenant.client()
    with tenant.context():
        client.force_login(User.objects.get(username=tenant.admin_username))
    return client


def test_console_requires_a_signed_in_admin_of_this_tenant(tenant_a, tenant_b):
    from kernel.accounts.services import user_create

    anonymous = tenant_a.client().get("/console/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/oauth/login?next=/console/")

    with tenant_a.context():
        plain = user_create(username="plain", password=remember_secret("plain-user-pw-123"))
    client = tenant_a.client()
    client.force_login(plain)
    assert client.get("/console/").status_code == 403

    admin_a = _staff_client(tenant_a)
    assert admin_a.get("/console/").status_code == 200
    at_b = tenant_b.client()
    at_b.cookies = admin_a.cookies  # the same browser's cookies, replayed at tenant B
    assert at_b.get("/console/").status_code == 302  # anonymous there


def test_console_registers_a_client_that_works_only_in_its_tenant(tenant_a, tenant_b):
    client = _staff_client(tenant_a)
    page = client.post(
        "/console/clients/", {"name": "Billing API", "kind": "service", "scopes": "api"}
    )
    assert page.status_code == 200
    client_id = re.search(rb'id="new-client-id">([^<]+)<', page.content).group(1).decode()
    secret = remember_secret(
        re.search(rb'id="new-client-secret">([^<]+)<', page.content).group(1).decode()
    )
    assert b"Shown once" in page.content
    assert secret.encode() not in client.get("/console/clients/").content

    ok = _token(tenant_a, client_id, secret)
    assert ok.status_code == 200
    remember_secret(ok.json()["access_token"])
    other = _token(tenant_b, client_id, secret)
    assert other.status_code == 401
    assert b"Billing API" not in _staff_client(tenant_b).get("/console/clients/").content


def test_console_client_secret_rotation_and_disable(tenant_a):
    from oauth.models import Client

    client = _staff_client(tenant_a)
    page = client.post("/console/clients/", {"name": "Rotating", "kind": "service"})
    client_id = re.search(rb'id="new-client-id">([^<]+)<', page.content).group(1).decode()
    old = remember_secret(
        re.search(rb'id="new-client-secret">([^<]+)<', page.content).group(1).decode()
    )
    rotated = client.post(f"/console/clients/{client_id}/rotate-secret/")
    new = remember_secret(
        re.search(rb'id="new-client-secret">([^<]+)<', rotated.content).group(1).decode()
    )
    assert new != old
    assert _token(tenant_a, client_id, old).status_code == 401
    fresh = _token(tenant_a, client_id, new)
    assert fresh.status_code == 200
    remember_secret(fresh.json()["access_token"])

    client.post(f"/console/clients/{client_id}/toggle/")
    with tenant_a.context():
        assert Client.objects.get(client_id=client_id).disabled
    assert _token(tenant_a, client_id, new).status_code == 401


def test_console_users_and_keys(tenant_a, tenant_b):
    from kernel.accounts.models import User
    from oauth.models import SigningKey

    client = _staff_client(tenant_a)
    created = client.post(
        "/console/users/",
        {
            "username": "carol",
            "email": "carol@alpha.test",
            "password": remember_secret("carol-pw-Long-1"),
        },
    )
    assert created.status_code == 302
    listing = client.get("/console/users/?q=carol")
    assert b"carol@alpha.test" in listing.content
    with tenant_b.context():
        assert not User.objects.filter(username="carol").exists()

    with tenant_a.context():
        before = set(SigningKey.objects.filter(state="current").values_list("kid", flat=True))
    client.post("/console/keys/", {"force": "1"})
    with tenant_a.context():
        after = set(SigningKey.objects.filter(state="current").values_list("kid", flat=True))
    assert after and after != before
    assert b"retiring" in client.get("/console/keys/").content


def test_console_forms_are_csrf_protected(tenant_a):
    from kernel.accounts.models import User

    client = tenant_a.client(enforce_csrf_checks=True)
    with tenant_a.context():
        client.force_login(User.objects.get(username=tenant_a.admin_username))
    assert client.post("/console/clients/", {"name": "x", "kind": "service"}).status_code == 403
    assert client.post("/console/keys/", {"force": "1"}).status_code == 403


def _token(tenant, client_id: str, secret: str):
    from urllib.parse import urlencode

    return tenant.client().post(
        "/oauth/token",
        urlencode({"grant_type": "client_credentials"}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=_basic(client_id, secret),
    )


def _basic(client_id: str, secret: str) -> str:
    import base64
    from urllib.parse import quote

    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def test_signup_throttle_is_per_client_behind_the_ingress(settings):
    """Behind one trusted proxy, the limit applies to each client IP, not to the ingress."""
    settings.GATEHOUSE = {**settings.GATEHOUSE, "TRUSTED_PROXY_COUNT": 1}
    _use_up_signups("203.0.113.9")
    try:
        ingress = {"REMOTE_ADDR": "10.0.0.1"}
        blocked = https_client(
            settings.GATEHOUSE_BASE_DOMAIN, HTTP_X_FORWARDED_FOR="203.0.113.9", **ingress
        )
        assert _signup("viaproxy", client=blocked).status_code == 429
        other = https_client(
            settings.GATEHOUSE_BASE_DOMAIN, HTTP_X_FORWARDED_FOR="198.51.100.7", **ingress
        )
        assert _signup("viaproxy", client=other).status_code == 200
    finally:
        signup_limit().reset("203.0.113.9")
        signup_limit().reset("198.51.100.7")


def test_console_answers_nul_bytes_without_a_500(tenant_a):
    client = _staff_client(tenant_a)
    assert client.get("/console/users/", {"q": "\x00"}).status_code == 200
    assert client.post("/console/clients/%00/toggle/").status_code == 404
    assert client.post("/console/clients/%00/rotate-secret/").status_code == 404
