"""The device authorization grant (RFC 8628) in process: the device authorization endpoint,
the /device pages, polling at the token endpoint (pending, slow_down, expiry, denial,
single use), guessing throttled, and tenants kept apart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from kernel.audit.models import AuditEvent
from oauth.grant_types import DEVICE_CODE
from oauth.models import DeviceAuthorization, Token
from tests.oauth.device.helpers import (
    csrf_of,
    decide,
    enter_code,
    make_device_client,
    poll,
    start,
    started,
)
from tests.support.factories import (
    active,
    assert_error,
    assert_no_store,
    make_client,
    make_user,
    refresh,
    remember_tokens,
    signed_in,
)
from tests.support.tenants import HttpsClient

pytestmark = pytest.mark.django_db


def _row(tenant, **filters) -> DeviceAuthorization:
    with tenant.context():
        return DeviceAuthorization.objects.get(**filters)


def _latest(tenant) -> DeviceAuthorization:
    with tenant.context():
        return DeviceAuthorization.objects.latest("pk")


def _approve(tenant, user, user_code: str):
    web = signed_in(tenant, user)
    response = enter_code(web, user_code)
    assert response.status_code == 302, response.content
    assert response["Location"] == "/device/consent"
    return decide(web, "allow")


def test_the_response_has_every_member_and_only_digests_are_stored(tenant):
    client = make_device_client(tenant)
    response = start(tenant, client, scope="openid api")
    assert response.status_code == 200, response.content
    assert_no_store(response)
    data = response.json()
    assert set(data) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert data["verification_uri"] == f"{tenant.issuer}/device"
    assert data["verification_uri_complete"] == (
        f"{tenant.issuer}/device?user_code={data['user_code']}"
    )
    assert data["expires_in"] == 600 and data["interval"] == 5
    code = data["user_code"]
    assert len(code) == 9 and code[4] == "-"
    assert set(code.replace("-", "")) <= set("BCDFGHJKLMNPQRSTVWXZ")
    row = _latest(tenant)
    assert row.scope == "openid api" and row.state == "pending"
    stored = {row.device_code_digest, row.user_code_digest}
    assert data["device_code"] not in stored and code.replace("-", "") not in stored


def test_metadata_advertises_the_endpoint_and_the_grant(tenant):
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        metadata = tenant.client().get(path).json()
        assert metadata["device_authorization_endpoint"] == (
            f"{tenant.issuer}/oauth/device_authorization"
        )
        assert DEVICE_CODE in metadata["grant_types_supported"]


def test_end_to_end_with_refresh_and_id_token(tenant):
    client = make_device_client(tenant)
    user = make_user(tenant)
    data = started(tenant, client, scope="openid api")
    pending = poll(tenant, client, data["device_code"])
    assert_error(pending, 400, "authorization_pending")

    # Typed in lower case with a space instead of the dash (RFC 8628 §6.1).
    typed = data["user_code"].lower().replace("-", " ")
    done = _approve(tenant, user, typed)
    assert done.status_code == 200 and b"Device connected" in done.content
    assert _latest(tenant).state == "approved"

    response = poll(tenant, client, data["device_code"])
    assert response.status_code == 200, response.content
    assert_no_store(response)
    body = remember_tokens(response.json())
    assert body["scope"] == "openid api" and body["token_type"] == "Bearer"
    assert body["refresh_token"]
    jwks = KeySet.import_key_set(tenant.client().get("/oauth/jwks").json())
    claims = jwt.decode(body["id_token"], jwks).claims
    assert claims["iss"] == tenant.issuer and claims["aud"] == client.client_id
    assert claims["sub"] == user.sub
    assert "nonce" not in claims and "auth_time" in claims
    assert active(tenant, body["access_token"])

    refreshed = refresh(tenant, client, body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    remember_tokens(refreshed.json())

    # Single use: the device code again is invalid_grant. At once, it is a poll that lost a
    # race and revokes nothing; past the reuse window it is a replay and revokes the grant.
    assert_error(poll(tenant, client, data["device_code"]), 400, "invalid_grant")
    assert active(tenant, refreshed.json()["access_token"])
    with tenant.context():
        DeviceAuthorization.objects.filter(pk=_latest(tenant).pk).update(
            consumed_at=timezone.now() - timedelta(minutes=1)
        )
    assert_error(poll(tenant, client, data["device_code"]), 400, "invalid_grant")
    assert not active(tenant, refreshed.json()["access_token"])
    assert _latest(tenant).state == "consumed"
    with tenant.context():
        assert AuditEvent.objects.filter(
            action="security.device_code_replayed", object_id=client.client_id
        ).exists()
        assert AuditEvent.objects.filter(
            action="device.approved", object_id=client.client_id
        ).exists()


def test_a_confidential_client_authenticates_with_its_registered_method(tenant):
    client = make_device_client(tenant, name="Confidential TV", auth_method="client_secret_basic")
    assert start(tenant, client).status_code == 200
    wrong = start(tenant, client.__class__(client.client_id, "wrong", client.pk, tenant))
    assert_error(wrong, 401, "invalid_client")
    # Its client_id alone (the public client's way) is refused too.
    public_way = start(tenant, client.__class__(client.client_id, None, client.pk, tenant))
    assert_error(public_way, 401, "invalid_client")


def test_only_clients_registered_for_the_grant_and_their_scopes(tenant):
    web_client = make_client(tenant, name="Service")
    assert_error(start(tenant, web_client), 400, "unauthorized_client")
    client = make_device_client(tenant)
    assert_error(start(tenant, client, scope="admin"), 400, "invalid_scope")
    assert_error(start(tenant, client, resource="https://api.example"), 400, "invalid_target")
    assert_error(poll(tenant, client, "no-such-code"), 400, "invalid_grant")
    missing = poll(tenant, client, "")
    assert_error(missing, 400, "invalid_request")
    get = tenant.client().get("/oauth/device_authorization")
    assert get.status_code == 405


def test_polling_faster_than_the_interval_is_slow_down_and_the_interval_grows(tenant):
    client = make_device_client(tenant)
    data = started(tenant, client)
    assert_error(poll(tenant, client, data["device_code"]), 400, "authorization_pending")
    assert_error(poll(tenant, client, data["device_code"]), 400, "slow_down")
    assert _latest(tenant).interval_seconds == 10
    assert_error(poll(tenant, client, data["device_code"]), 400, "slow_down")
    assert _latest(tenant).interval_seconds == 15
    # 15 s later (moved back in the database rather than waited for): pending again.
    with tenant.context():
        DeviceAuthorization.objects.filter(pk=_latest(tenant).pk).update(
            last_polled_at=timezone.now() - timedelta(seconds=15)
        )
    assert_error(poll(tenant, client, data["device_code"]), 400, "authorization_pending")
    assert _latest(tenant).interval_seconds == 15


def test_an_expired_device_code_is_expired_token_and_its_user_code_says_so(tenant):
    client = make_device_client(tenant)
    user = make_user(tenant)
    data = started(tenant, client)
    with tenant.context():
        DeviceAuthorization.objects.filter(pk=_latest(tenant).pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    assert_error(poll(tenant, client, data["device_code"]), 400, "expired_token")
    page = enter_code(signed_in(tenant, user), data["user_code"])
    assert page.status_code == 400
    assert b"expired" in page.content


def test_approved_then_expired_before_the_poll_issues_nothing(tenant):
    client = make_device_client(tenant)
    user = make_user(tenant)
    data = started(tenant, client)
    assert _approve(tenant, user, data["user_code"]).status_code == 200
    with tenant.context():
        DeviceAuthorization.objects.filter(pk=_latest(tenant).pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        before = Token.objects.count()
    assert_error(poll(tenant, client, data["device_code"]), 400, "expired_token")
    with tenant.context():
        assert Token.objects.count() == before


def test_denial_is_access_denied(tenant):
    client = make_device_client(tenant)
    user = make_user(tenant)
    data = started(tenant, client)
    web = signed_in(tenant, user)
    assert enter_code(web, data["user_code"]).status_code == 302
    done = decide(web, "deny")
    assert done.status_code == 200 and b"Request denied" in done.content
    assert_error(poll(tenant, client, data["device_code"]), 400, "access_denied")
    assert_error(poll(tenant, client, data["device_code"]), 400, "access_denied")


def test_a_used_user_code_cannot_be_approved_again(tenant):
    client = make_device_client(tenant)
    user, other = make_user(tenant), make_user(tenant)
    data = started(tenant, client)
    assert _approve(tenant, user, data["user_code"]).status_code == 200
    again = enter_code(signed_in(tenant, other), data["user_code"])
    assert again.status_code == 400 and b"already been used" in again.content
    assert _latest(tenant).user_id == user.pk


def test_the_user_signs_in_after_entering_the_code(tenant):
    client = make_device_client(tenant)
    user = make_user(tenant)
    data = started(tenant, client)
    web = tenant.client()
    prefilled = web.get("/device", {"user_code": data["user_code"]}, secure=True)
    assert data["user_code"].encode() in prefilled.content  # shown, still to be confirmed
    assert _latest(tenant).state == "pending"
    response = enter_code(web, data["user_code"])
    assert response.status_code == 302
    assert response["Location"] == "/oauth/login?next=%2Fdevice%2Fconsent"
    login = web.get(response["Location"], secure=True)
    signed = web.post(
        "/oauth/login",
        {
            "csrfmiddlewaretoken": csrf_of(login),
            "username": user.username,
            "password": user.raw_password,
            "next": "/device/consent",
        },
        secure=True,
    )
    assert signed.status_code == 302 and signed["Location"] == "/device/consent"
    consent = web.get("/device/consent", secure=True)
    assert b"TV app" in consent.content and b"Check the device" in consent.content
    assert decide(web, "allow").status_code == 200
    assert _latest(tenant).user_id == user.pk


def test_every_form_needs_its_csrf_token(tenant):
    client = make_device_client(tenant)
    data = started(tenant, client)
    web = HttpsClient(enforce_csrf_checks=True, HTTP_HOST=tenant.host, SERVER_PORT="443")
    response = web.post("/device", {"user_code": data["user_code"]}, secure=True)
    assert response.status_code == 403
    response = web.post("/device/consent", {"decision": "allow"}, secure=True)
    assert response.status_code == 403
    assert _latest(tenant).state == "pending"


def test_consent_without_a_code_or_with_a_bad_decision_is_a_clear_page(tenant):
    user = make_user(tenant)
    web = signed_in(tenant, user)
    page = web.get("/device/consent", secure=True)
    assert page.status_code == 400 and b"Enter the code" in page.content
    client = make_device_client(tenant)
    data = started(tenant, client)
    assert enter_code(web, data["user_code"]).status_code == 302
    bad = web.post("/device/consent", {"decision": "maybe"}, secure=True)
    assert bad.status_code == 400
    assert _latest(tenant).state == "pending"


def test_guessing_is_throttled_per_ip_and_another_ip_is_not_locked_out(tenant, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "DEVICE_FLOW": {"IP_GUESSES": 3}}
    client = make_device_client(tenant)
    data = started(tenant, client)
    guesser = tenant.client(REMOTE_ADDR="203.0.113.7")
    for _ in range(3):
        wrong = enter_code(guesser, "BBBB-BBBB", REMOTE_ADDR="203.0.113.7")
        assert wrong.status_code == 400 and b"not known" in wrong.content
    refused = enter_code(guesser, "BBBB-BBBB", REMOTE_ADDR="203.0.113.7")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    # Even the right code is refused to the guesser now: nothing is looked up.
    right_from_guesser = enter_code(guesser, data["user_code"], REMOTE_ADDR="203.0.113.7")
    assert right_from_guesser.status_code == 429
    # A user at another address enters the right code.
    user = make_user(tenant)
    web = signed_in(tenant, user)
    assert enter_code(web, data["user_code"], REMOTE_ADDR="198.51.100.9").status_code == 302


def test_right_codes_do_not_count_as_guesses(tenant, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "DEVICE_FLOW": {"IP_GUESSES": 2}}
    client = make_device_client(tenant)
    web = signed_in(tenant, make_user(tenant))
    for _ in range(3):
        data = started(tenant, client)
        assert enter_code(web, data["user_code"], REMOTE_ADDR="192.0.2.5").status_code == 302


def test_the_tenant_wide_limit_stops_guessers_spread_over_addresses(tenant, settings):
    settings.GATEHOUSE = {
        **settings.GATEHOUSE,
        "DEVICE_FLOW": {"IP_GUESSES": 100, "TENANT_GUESSES": 4},
    }
    web = tenant.client()
    for n in range(4):
        address = f"203.0.113.{n + 10}"
        assert enter_code(web, "CCCC-CCCC", REMOTE_ADDR=address).status_code == 400
    assert enter_code(web, "CCCC-CCCC", REMOTE_ADDR="203.0.113.99").status_code == 429


def test_tenants_are_walls(tenant_a, tenant_b, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "DEVICE_FLOW": {"IP_GUESSES": 2}}
    client_a = make_device_client(tenant_a)
    client_b = make_device_client(tenant_b)
    data = started(tenant_a, client_a)
    user_b = make_user(tenant_b)
    # A's user code is unknown at B, and B's guesses do not throttle A.
    web_b = signed_in(tenant_b, user_b)
    for _ in range(2):
        assert enter_code(web_b, data["user_code"]).status_code == 400
    assert enter_code(web_b, data["user_code"]).status_code == 429
    # A's device code means nothing to B's client at B, nor A's client at B.
    assert_error(poll(tenant_b, client_b, data["device_code"]), 400, "invalid_grant")
    assert_error(poll(tenant_b, client_a, data["device_code"]), 401, "invalid_client")
    assert_error(start(tenant_b, client_a), 401, "invalid_client")
    # A's flow still works, from the same address B's guesser used.
    user_a = make_user(tenant_a)
    assert _approve(tenant_a, user_a, data["user_code"]).status_code == 200
    ok = poll(tenant_a, client_a, data["device_code"])
    assert ok.status_code == 200, ok.content
    remember_tokens(ok.json())
    assert _row(tenant_a, pk=_latest(tenant_a).pk).state == "consumed"


def test_the_pages_carry_the_tenants_branding_and_refuse_framing(tenant_a, tenant_b):
    from oauth.services.branding import branding_update

    with tenant_a.context():
        branding_update(display_name="Alpha Identity", primary_colour="#c81e3c")
    page = tenant_a.client().get("/device")
    assert page.status_code == 200
    assert b"Alpha Identity" in page.content and b"#c81e3c" in page.content
    assert page["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert "no-store" in page["Cache-Control"]
    assert b"Alpha Identity" not in tenant_b.client().get("/device").content


@pytest.mark.parametrize(
    "typed", ["", "B" * 40, "BBBB-BBB", "AEIO-UAEI", "ßççç-çççç", "BBBB\x00BBBB", "<script>"]
)
def test_odd_codes_get_a_readable_page_never_a_500(tenant_a, typed):
    response = enter_code(tenant_a.client(), typed)
    assert response.status_code == 400
    assert b"not known" in response.content and b"<script>" not in response.content


def test_a_disabled_client_can_neither_start_nor_be_approved(tenant_a):
    from oauth.models import Client

    client = make_device_client(tenant_a, name="Soon disabled")
    data = started(tenant_a, client)
    with tenant_a.context():
        Client.objects.filter(pk=client.pk).update(disabled=True)
    page = enter_code(signed_in(tenant_a, make_user(tenant_a)), data["user_code"])
    assert page.status_code == 400 and b"disabled" in page.content
    assert_error(start(tenant_a, client), 401, "invalid_client")
    assert_error(poll(tenant_a, client, data["device_code"]), 401, "invalid_client")
