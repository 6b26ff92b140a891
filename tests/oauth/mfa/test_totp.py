"""TOTP (RFC 6238) enrolment and sign-in, replay refusal, recovery codes, the second-factor
rate limit, removal with re-confirmation, and the audit rows (never a secret in them)."""

import re

import pyotp
import pytest

from tests.oauth.mfa.conftest import (
    audit_actions,
    enrol_totp,
    next_code,
    password_login,
    second_factor,
    session_of,
)
from tests.support.factories import make_user, post_form, signed_in
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')
_CODES = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


def test_enrol_an_authenticator_app_on_the_account_page(tenant):
    user = make_user(tenant)
    web = signed_in(tenant, user)
    page = web.get("/account/mfa/totp/add")
    assert page.status_code == 200 and b"<svg" in page.content
    assert page["Content-Security-Policy"] == "frame-ancestors 'none'"
    secret = remember_secret(_SECRET.search(page.content.decode()).group(1).replace(" ", ""))

    wrong = post_form(web, "/account/mfa/totp/add", {"code": "000000"})
    assert wrong.status_code == 400 and b"not right" in wrong.content
    # A wrong code shows the same secret again (the session keeps it until confirmed).
    assert secret in _SECRET.search(wrong.content.decode()).group(1).replace(" ", "")

    done = post_form(web, "/account/mfa/totp/add", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302 and done["Location"] == "/account/mfa/recovery-codes"
    waiting = str(session_of(tenant, web))
    shown = web.get("/account/mfa/recovery-codes")
    codes = [remember_secret(c) for c in _CODES.findall(shown.content.decode())]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert not any(code in waiting for code in codes)  # encrypted while they waited
    assert web.get("/account/mfa/recovery-codes").status_code == 302  # shown once only

    with tenant.context():
        from oauth.mfa.models import RecoveryCode, TOTPDevice

        device = TOTPDevice.objects.get(user=user)
        assert secret not in device.encrypted_secret  # encrypted at rest
        stored = set(RecoveryCode.objects.filter(user=user).values_list("code_digest", flat=True))
        assert not stored & {c.replace("-", "") for c in codes}  # digests only
    actions = audit_actions(tenant, user)
    assert ("mfa.enrolled", {"factor": "totp"}) in actions
    assert ("mfa.recovery_codes_regenerated", {"count": 10}) in actions
    assert secret not in str(actions) and not any(c in str(actions) for c in codes)


def test_sign_in_asks_for_the_code_after_the_password(tenant):
    user = make_user(tenant)
    secret, _codes = enrol_totp(tenant, user)
    web = tenant.client()
    after_password = password_login(web, user, "/oauth/authorize?x=1")
    assert after_password.status_code == 302
    assert after_password["Location"] == "/account/mfa/challenge"
    assert "_auth_user_id" not in session_of(tenant, web)  # not signed in yet
    page = web.get("/account/mfa/challenge")
    assert page.status_code == 200 and b"6-digit code" in page.content

    wrong = second_factor(web, "123456")
    assert wrong.status_code == 400 and "_auth_user_id" not in session_of(tenant, web)
    done = second_factor(web, next_code(secret))
    assert done.status_code == 302 and done["Location"] == "/oauth/authorize?x=1"
    session = session_of(tenant, web)
    assert session["_auth_user_id"] == str(user.pk)
    assert session["gatehouse_amr"] == ["pwd", "otp", "mfa"]
    assert session["gatehouse_auth_time"] > 0
    actions = audit_actions(tenant, user)
    assert ("mfa.failed", {"method": "totp"}) in actions
    assert (
        "user.signed_in",
        {"method": "password+totp", "amr": ["pwd", "otp", "mfa"]},
    ) in actions


def test_a_used_code_is_refused_the_second_time(tenant):
    user = make_user(tenant)
    secret, _codes = enrol_totp(tenant, user)
    code = next_code(secret)
    first = tenant.client()
    password_login(first, user)
    assert second_factor(first, code).status_code == 302
    replay = tenant.client()
    password_login(replay, user)
    refused = second_factor(replay, code)
    assert refused.status_code == 400
    assert "_auth_user_id" not in session_of(tenant, replay)
    # The enrolment's own code (the current step) was spent too.
    from oauth.mfa import services

    with tenant.context():
        assert not services.totp_verify(user=user, code=pyotp.TOTP(secret).now())


def test_a_recovery_code_works_once(tenant):
    user = make_user(tenant)
    _secret, codes = enrol_totp(tenant, user)
    web = tenant.client()
    password_login(web, user)
    assert second_factor(web, codes[0].upper(), method="recovery").status_code == 302
    assert session_of(tenant, web)["_auth_user_id"] == str(user.pk)
    again = tenant.client()
    password_login(again, user)
    assert second_factor(again, codes[0], method="recovery").status_code == 400
    assert "_auth_user_id" not in session_of(tenant, again)
    actions = [action for action, _ in audit_actions(tenant, user)]
    assert actions.count("mfa.recovery_code_used") == 1
    assert ("mfa.recovery_code_used", {"left": 9}) in audit_actions(tenant, user)


def test_second_factor_attempts_are_rate_limited_per_user(tenant, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "MFA": {"ATTEMPTS": 3, "WINDOW_SECONDS": 300}}
    user = make_user(tenant)
    secret, _codes = enrol_totp(tenant, user)
    web = tenant.client()
    password_login(web, user)
    for guess in ("111111", "222222", "333333"):
        assert second_factor(web, guess).status_code == 400
    blocked = second_factor(web, next_code(secret))  # even the right code
    assert blocked.status_code == 429 and 0 < int(blocked["Retry-After"]) <= 300
    assert "_auth_user_id" not in session_of(tenant, web)
    # A new password sign-in does not reset the count: the limit is the user's.
    other = tenant.client()
    password_login(other, user)
    assert second_factor(other, next_code(secret)).status_code == 429


def test_the_pending_sign_in_expires(tenant, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "MFA": {"PENDING_SECONDS": -1}}
    user = make_user(tenant)
    secret, _codes = enrol_totp(tenant, user)
    web = tenant.client()
    password_login(web, user)
    late = second_factor(web, next_code(secret))
    assert late.status_code == 400 and b"Sign in again" in late.content
    assert "_auth_user_id" not in session_of(tenant, web)


def test_removing_the_app_needs_the_password_again(tenant):
    user = make_user(tenant)
    enrol_totp(tenant, user)
    web = signed_in(tenant, user)
    refused = post_form(web, "/account/mfa/totp/remove", {"password": "not-the-password"})
    assert refused.status_code == 400
    from oauth.mfa.models import RecoveryCode, TOTPDevice

    with tenant.context():
        assert TOTPDevice.objects.filter(user=user).exists()
    removed = post_form(web, "/account/mfa/totp/remove", {"password": user.raw_password})
    assert removed.status_code == 302
    with tenant.context():
        assert not TOTPDevice.objects.filter(user=user).exists()
        assert not RecoveryCode.objects.filter(user=user).exists()  # nothing left to back up
    assert ("mfa.removed", {"factor": "totp", "name": "Authenticator app"}) in audit_actions(
        tenant, user
    )
    # Without a factor, the password alone signs in again.
    assert password_login(tenant.client(), user)["Location"] == "/"


def test_regenerating_recovery_codes_voids_the_old_ones(tenant):
    user = make_user(tenant)
    secret, old = enrol_totp(tenant, user)
    web = signed_in(tenant, user)
    assert post_form(web, "/account/mfa/recovery-codes/regenerate", {}).status_code == 302
    new = _CODES.findall(web.get("/account/mfa/recovery-codes").content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    login = tenant.client()
    password_login(login, user)
    assert second_factor(login, old[1], method="recovery").status_code == 400
    assert second_factor(login, remember_secret(new[1]), method="recovery").status_code == 302


def test_account_pages_need_a_signed_in_user(tenant):
    for path in ("/account/mfa/", "/account/mfa/totp/add", "/account/mfa/passkeys/add"):
        response = tenant.client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/oauth/login")


def test_the_account_section_lists_the_factors(tenant):
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    user = make_user(tenant)
    request = RequestFactory().get("/account/")
    request.user = user
    with tenant.context():
        before = render_to_string("mfa/_account_section.html", {"request": request})
    enrol_totp(tenant, user)
    with tenant.context():
        after = render_to_string("mfa/_account_section.html", {"request": request})
    assert "Only your password protects this account." in before
    assert "Authenticator app" in after and "10 recovery codes left" in after


def test_every_sign_in_is_audited_with_its_methods(tenant):
    user = make_user(tenant)
    web = tenant.client()
    assert password_login(web, user)["Location"] == "/"
    actions = audit_actions(tenant, user)
    assert ("user.signed_in", {"method": "password", "amr": ["pwd"]}) in actions
    assert "admin.signed_in" not in [action for action, _ in actions]  # not an admin
    assert user.raw_password not in str(actions)
