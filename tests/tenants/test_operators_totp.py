"""Operators sign in with a password and a TOTP code (RFC 6238) or a recovery code: the
code step, its throttle and audit, replay, enrolment forced after the password, and a
half-finished sign-in that opens nothing."""

import re
import time

import pyotp
import pytest
from django.conf import settings
from django.db import connection

from kernel.accounts.models import User
from kernel.audit.models import AuditEvent
from oauth.mfa import services as mfa_services
from tenants.console.views.access import sign_in_limit, throttle_keys
from tests.support.secrets import remember_secret
from tests.support.tenants import https_client

pytestmark = pytest.mark.django_db

BASE = settings.GATEHOUSE_BASE_DOMAIN
PASSWORD = "operator-totp-Password-93"


@pytest.fixture
def operator_with_app():
    """An operator with an authenticator app (and its recovery codes)."""
    connection.set_schema_to_public()
    remember_secret(PASSWORD)
    user = User.objects.create_user("op-totp", "op@gatehouse.test", PASSWORD, is_staff=True)
    secret = mfa_services.totp_new_secret()
    sealed = mfa_services.seal_secret(secret)
    totp = pyotp.TOTP(secret)
    codes = mfa_services.totp_enrol(user=user, sealed_secret=sealed, code=totp.now())
    for key in throttle_keys("127.0.0.1", "op-totp"):
        sign_in_limit().reset(key)
    yield user, totp, codes
    for key in throttle_keys("127.0.0.1", "op-totp"):
        sign_in_limit().reset(key)


def _password(web, username="op-totp"):
    return web.post("/operators/sign-in/", {"username": username, "password": PASSWORD})


def _actions() -> list[str]:
    connection.set_schema_to_public()
    return list(
        AuditEvent.objects.filter(action__startswith="operator.").values_list("action", flat=True)
    )


def test_the_password_alone_opens_nothing(operator_with_app):
    web = https_client(BASE)
    answer = _password(web)
    assert answer.status_code == 302 and answer["Location"] == "/operators/sign-in/code/"
    assert web.get("/operators/").status_code == 302
    assert "operator.signed_in" not in _actions()


def test_a_totp_code_completes_the_sign_in_once(operator_with_app):
    user, totp, _ = operator_with_app
    web = https_client(BASE)
    _password(web)
    # The code the fixture enrolled with is spent: a new time step is needed.
    page = web.post("/operators/sign-in/code/", {"code": totp.now()})
    assert page.status_code == 400  # the same step again: a replay
    later = totp.at(time.time() + 30)
    signed = web.post("/operators/sign-in/code/", {"code": later})
    # The next step's code is within the verifier's window of one step (RFC 6238 §5.2).
    assert signed.status_code == 302 and signed["Location"] == "/operators/"
    assert web.get("/operators/").status_code == 200
    assert "operator.signed_in" in _actions()


def test_a_recovery_code_works_once(operator_with_app):
    _, _, codes = operator_with_app
    web = https_client(BASE)
    _password(web)
    assert web.post("/operators/sign-in/code/", {"code": codes[0]}).status_code == 302
    again = https_client(BASE)
    _password(again)
    assert again.post("/operators/sign-in/code/", {"code": codes[0]}).status_code == 400


def test_wrong_codes_are_throttled_and_audited(operator_with_app, settings):
    settings.GATEHOUSE = {
        **settings.GATEHOUSE,
        "OPERATOR_SIGN_IN_THROTTLE": {"ATTEMPTS": 3, "WINDOW_SECONDS": 900},
    }
    web = https_client(BASE)
    _password(web)
    answers = [
        web.post("/operators/sign-in/code/", {"code": "000000"}).status_code for _ in range(4)
    ]
    assert answers == [400, 400, 400, 429]
    assert _actions().count("operator.sign_in_failed") == 3


def test_the_code_page_needs_the_password_first():
    web = https_client(BASE)
    assert web.get("/operators/sign-in/code/")["Location"] == "/operators/sign-in/"
    assert web.post("/operators/sign-in/code/", {"code": "123456"}).status_code == 302
    assert web.get("/operators/security/totp/")["Location"] == "/operators/sign-in/"


def test_an_operator_without_an_app_adds_one_before_signing_in():
    connection.set_schema_to_public()
    remember_secret(PASSWORD)
    User.objects.create_user("op-new", "new@gatehouse.test", PASSWORD, is_staff=True)
    web = https_client(BASE)
    assert _password(web, "op-new")["Location"] == "/operators/security/totp/"
    page = web.get("/operators/security/totp/").content.decode()
    assert "<svg" in page
    secret = re.search(r'id="totp-secret">([^<]+)<', page).group(1).replace(" ", "")
    wrong = web.post("/operators/security/totp/", {"code": "000000"})
    assert wrong.status_code == 400 and web.get("/operators/").status_code == 302
    done = web.post("/operators/security/totp/", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([^<]+)</code></li>", done.content.decode())
    assert len(codes) == 10
    assert web.get("/operators/").status_code == 200
    # The next sign-in asks for a code.
    assert _password(https_client(BASE), "op-new")["Location"] == "/operators/sign-in/code/"


def test_without_the_requirement_a_password_is_enough_for_an_operator_with_no_app(settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "OPERATOR_TOTP_REQUIRED": False}
    connection.set_schema_to_public()
    remember_secret(PASSWORD)
    User.objects.create_user("op-plain", "p@gatehouse.test", PASSWORD, is_staff=True)
    web = https_client(BASE)
    assert _password(web, "op-plain")["Location"] == "/operators/"
    assert web.get("/operators/").status_code == 200
