"""Helpers for the MFA tests: enrol factors through the services, sign in through the pages,
decode id_tokens with the tenant's keys."""

from __future__ import annotations

import time

import pyotp
import pytest

from tests.support import jose
from tests.support.factories import post_form
from tests.support.secrets import remember_secret


def enrol_totp(tenant, user) -> tuple[str, list[str]]:
    """Give ``user`` an authenticator app; returns its secret and the recovery codes."""
    from oauth.mfa import services

    secret = remember_secret(services.totp_new_secret())
    with tenant.context():
        codes = services.totp_enrol(
            user=user, sealed_secret=services.seal_secret(secret), code=pyotp.TOTP(secret).now()
        )
    for code in codes or []:
        remember_secret(code)
    return secret, codes or []


def next_code(secret: str) -> str:
    """The code of the next time step: enrolment spent the current one (replay refused)."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def password_login(web, user, next_url: str = "/", password: str | None = None):
    return post_form(
        web,
        "/oauth/login",
        {"username": user.username, "password": password or user.raw_password, "next": next_url},
    )


def second_factor(web, code: str, method: str = "totp"):
    return post_form(web, "/account/mfa/challenge", {"method": method, "code": code})


def session_of(tenant, web) -> dict:
    from django.contrib.sessions.models import Session

    with tenant.context():
        row = Session.objects.filter(session_key=web.cookies["sessionid"].value).first()
        return row.get_decoded() if row else {}


def audit_actions(tenant, user) -> list[tuple[str, dict]]:
    from kernel.audit.models import AuditEvent

    with tenant.context():
        return [
            (event.action, event.changes)
            for event in AuditEvent.objects.filter(object_id=str(user.pk)).order_by("id")
        ]


def decode_id_token(tenant, id_token: str) -> dict:
    from oauth.signing.selectors import jwks_document

    with tenant.context():
        keys = jwks_document()
    return jose.verify(id_token, keys, ["RS256"]).claims


@pytest.fixture
def mfa_policy():
    """Set the tenant's policy for one test (rolled back with the test's transaction)."""
    from oauth.mfa.services import policy_set

    def _set(tenant, mode: str) -> None:
        with tenant.context():
            policy_set(mode=mode)

    return _set
