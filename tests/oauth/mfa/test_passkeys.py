"""Passkeys (WebAuthn) through the JSON steps of the pages, with a software authenticator:
registration, sign-in without a password, a passkey as the second factor, single-use
challenges, and tenant isolation (A's passkey and TOTP device are worthless at B)."""

import json
import secrets

import pytest

from tests.oauth.mfa.conftest import (
    audit_actions,
    enrol_totp,
    next_code,
    password_login,
    second_factor,
    session_of,
)
from tests.support.factories import make_user, signed_in
from tests.support.webauthn import SoftAuthenticator

pytestmark = pytest.mark.django_db


def _post_json(web, path: str, body: dict | None = None):
    return web.post(path, json.dumps(body or {}), content_type="application/json")


def _origin(tenant) -> str:
    return f"https://{tenant.host}"


def register_passkey(tenant, user, authenticator: SoftAuthenticator, name: str = "Laptop"):
    web = signed_in(tenant, user)
    options = _post_json(web, "/account/mfa/passkeys/add/options").json()
    assert options["rp"]["id"] == tenant.host
    assert options["authenticatorSelection"]["residentKey"] == "required"
    credential = authenticator.create(options, _origin(tenant))
    return _post_json(
        web, "/account/mfa/passkeys/add/finish", {"credential": credential, "name": name}
    )


def passkey_login(tenant, web, authenticator, *, origin=None, rp_id=None, next_url="/"):
    options = _post_json(web, "/account/mfa/passkey-login/options").json()
    assertion = authenticator.get(options, origin or _origin(tenant), rp_id=rp_id)
    return _post_json(
        web, "/account/mfa/passkey-login", {"credential": assertion, "next": next_url}
    )


def test_register_a_passkey_and_sign_in_with_it_alone(tenant):
    user = make_user(tenant)
    authenticator = SoftAuthenticator()
    registered = register_passkey(tenant, user, authenticator)
    assert registered.status_code == 200
    assert registered.json() == {"redirect": "/account/mfa/recovery-codes"}
    from oauth.mfa.models import WebAuthnCredential

    with tenant.context():
        row = WebAuthnCredential.objects.get(user=user)
        assert row.name == "Laptop" and row.transports == ["internal"]
    assert ("mfa.enrolled", {"factor": "passkey", "name": "Laptop"}) in audit_actions(tenant, user)

    web = tenant.client()
    answer = passkey_login(tenant, web, authenticator, next_url="/oauth/authorize?x=1")
    assert answer.status_code == 200 and answer.json() == {"redirect": "/oauth/authorize?x=1"}
    session = session_of(tenant, web)
    assert session["_auth_user_id"] == str(user.pk)
    assert session["gatehouse_amr"] == ["hwk", "mfa"]
    with tenant.context():
        assert WebAuthnCredential.objects.get(user=user).sign_count == 1


def test_next_after_a_passkey_is_never_an_open_redirect(tenant):
    user = make_user(tenant)
    authenticator = SoftAuthenticator()
    register_passkey(tenant, user, authenticator)
    answer = passkey_login(tenant, tenant.client(), authenticator, next_url="https://evil.test/")
    assert answer.json() == {"redirect": "/"}


def test_a_passkey_without_user_verification_is_one_factor(tenant):
    user = make_user(tenant)
    authenticator = SoftAuthenticator(user_verified=False)
    register_passkey(tenant, user, authenticator)
    web = tenant.client()
    assert passkey_login(tenant, web, authenticator).status_code == 200
    assert session_of(tenant, web)["gatehouse_amr"] == ["hwk"]


def test_an_assertion_works_once(tenant):
    user = make_user(tenant)
    authenticator = SoftAuthenticator()
    register_passkey(tenant, user, authenticator)
    web = tenant.client()
    options = _post_json(web, "/account/mfa/passkey-login/options").json()
    assertion = authenticator.get(options, _origin(tenant))
    assert (
        _post_json(web, "/account/mfa/passkey-login", {"credential": assertion}).status_code == 200
    )
    replay = tenant.client()
    _post_json(replay, "/account/mfa/passkey-login/options")  # a new challenge
    refused = _post_json(replay, "/account/mfa/passkey-login", {"credential": assertion})
    assert refused.status_code == 400 and "_auth_user_id" not in session_of(tenant, replay)


def test_a_passkey_as_the_second_factor_after_the_password(tenant):
    user = make_user(tenant)
    authenticator = SoftAuthenticator()
    register_passkey(tenant, user, authenticator)
    web = tenant.client()
    assert password_login(web, user)["Location"] == "/account/mfa/challenge"
    assert b"Use a passkey" in web.get("/account/mfa/challenge").content
    options = _post_json(web, "/account/mfa/challenge/passkey/options").json()
    assert [c["id"] for c in options["allowCredentials"]] == [authenticator.id]
    answer = _post_json(
        web,
        "/account/mfa/challenge/passkey",
        {"credential": authenticator.get(options, _origin(tenant))},
    )
    assert answer.status_code == 200 and answer.json() == {"redirect": "/"}
    assert session_of(tenant, web)["gatehouse_amr"] == ["pwd", "hwk", "mfa"]


def test_someone_elses_passkey_is_not_a_second_factor(tenant):
    owner, victim = make_user(tenant), make_user(tenant)
    theirs = SoftAuthenticator()
    register_passkey(tenant, owner, theirs)
    register_passkey(tenant, victim, SoftAuthenticator())
    web = tenant.client()
    password_login(web, victim)
    options = _post_json(web, "/account/mfa/challenge/passkey/options").json()
    answer = _post_json(
        web, "/account/mfa/challenge/passkey", {"credential": theirs.get(options, _origin(tenant))}
    )
    assert answer.status_code == 400 and "_auth_user_id" not in session_of(tenant, web)
    assert ("mfa.failed", {"method": "passkey"}) in audit_actions(tenant, victim)


def test_removing_a_passkey_needs_the_password(tenant):
    from oauth.mfa.models import WebAuthnCredential

    user = make_user(tenant)
    register_passkey(tenant, user, SoftAuthenticator())
    with tenant.context():
        passkey_id = WebAuthnCredential.objects.get(user=user).pk
    web = signed_in(tenant, user)
    path = f"/account/mfa/passkeys/{passkey_id}/remove"
    assert web.post(path, {"password": "wrong"}).status_code == 400
    assert web.post(path, {"password": user.raw_password}).status_code == 302
    with tenant.context():
        assert not WebAuthnCredential.objects.filter(user=user).exists()


def test_a_passkey_and_a_totp_device_of_tenant_a_are_worthless_at_b(tenant_a, tenant_b):
    name = f"same-{secrets.token_hex(4)}"
    at_a = make_user(tenant_a, username=name)
    at_b = make_user(tenant_b, username=name, password=at_a.raw_password)
    authenticator = SoftAuthenticator()
    register_passkey(tenant_a, at_a, authenticator)

    # At B, the browser would not even offer it (another rp id); sent anyway, B has no
    # such credential, whichever origin and rp id the assertion names.
    for origin, rp_id in ((_origin(tenant_a), tenant_a.host), (_origin(tenant_b), tenant_b.host)):
        web = tenant_b.client()
        answer = passkey_login(tenant_b, web, authenticator, origin=origin, rp_id=rp_id)
        assert answer.status_code == 400, origin
        assert "_auth_user_id" not in session_of(tenant_b, web)

    # TOTP: B's user of the same name has a device of its own; A's codes open nothing there.
    secret_a, _ = enrol_totp(tenant_a, at_a)
    enrol_totp(tenant_b, at_b)
    web = tenant_b.client()
    assert password_login(web, at_b)["Location"] == "/account/mfa/challenge"
    assert second_factor(web, next_code(secret_a)).status_code == 400
    assert "_auth_user_id" not in session_of(tenant_b, web)


def test_a_passkey_registered_for_another_origin_is_refused(tenant_a, tenant_b):
    user = make_user(tenant_a)
    web = signed_in(tenant_a, user)
    options = _post_json(web, "/account/mfa/passkeys/add/options").json()
    credential = SoftAuthenticator().create(options, _origin(tenant_b))
    answer = _post_json(web, "/account/mfa/passkeys/add/finish", {"credential": credential})
    assert answer.status_code == 400
    from oauth.mfa.models import WebAuthnCredential

    with tenant_a.context():
        assert not WebAuthnCredential.objects.filter(user=user).exists()


def test_garbage_from_the_browser_is_a_clean_400(tenant):
    user = make_user(tenant)
    web = signed_in(tenant, user)
    _post_json(web, "/account/mfa/passkeys/add/options")
    for body in ({"credential": "x"}, {"credential": {"id": 1}}, {}):
        assert _post_json(web, "/account/mfa/passkeys/add/finish", body).status_code == 400
        _post_json(web, "/account/mfa/passkeys/add/options")
    anonymous = tenant.client()
    _post_json(anonymous, "/account/mfa/passkey-login/options")
    bad = anonymous.post("/account/mfa/passkey-login", "{not json", content_type="application/json")
    assert bad.status_code == 400
