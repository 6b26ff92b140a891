"""Regressions found in review: key retirement and promotion bounded by what was already
signed or promised (OIDC Core §10.1.1), and logout answers that never lie or 500."""

import base64
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests.oauth.factories import (
    client_credentials_token,
    make_client,
    make_user,
    make_web_client,
)
from tests.oidc.conftest import kids

pytestmark = pytest.mark.django_db

LOGGED_OUT = "https://app.example.com/logged-out"


def _signed_in_session(tenant, web) -> bool:
    from django.contrib.sessions.backends.db import SessionStore

    key = web.cookies.get("sessionid")
    if key is None or not key.value:
        return False
    with tenant.context():
        return "_auth_user_id" in SessionStore(session_key=key.value).load()


# --- key rotation keeps every signed token verifiable and every cached JWKS honest ----------


def test_lowering_a_lifetime_then_rotating_keeps_the_key_while_its_tokens_live(tenant_a):
    from oauth.services.issuer import issuer_settings_update
    from oauth.signing.jws import JWTVerificationError, verify_jwt
    from oauth.signing.selectors import jwks_document
    from oauth.signing.services import rotate

    with tenant_a.context():
        issuer_settings_update(access_token_lifetime=86400)  # JWT access tokens live a day
    service = make_client(tenant_a, access_token_format="jwt", scopes=["api"])
    token = client_credentials_token(tenant_a, service, scope="api")["access_token"]
    with tenant_a.context():
        exp = verify_jwt(token)["exp"]
        issuer_settings_update(access_token_lifetime=3600)  # operator shortens the lifetime
        rotate(timezone.now(), force=True)
        header_kid = __import__("json").loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))[
            "kid"
        ]
        # One minute before the token expires it must still verify against the published JWKS.
        before_exp = datetime.fromtimestamp(exp - 60, tz=UTC)
        assert header_kid in kids(jwks_document(before_exp)), (
            "the key that signed an unexpired token has left JWKS"
        )
        try:
            verify_jwt(token, now=before_exp)
        except JWTVerificationError as error:
            pytest.fail(f"unexpired token no longer verifies: {error}")


def test_lowering_jwks_max_age_does_not_promote_a_key_cached_jwks_never_held(tenant_a):
    from oauth.models import SigningKey
    from oauth.services.issuer import issuer_settings_update
    from oauth.signing.services import rotate

    with tenant_a.context():
        issuer_settings_update(jwks_max_age=86400)
        # An RP fetches JWKS now and may cache it for a day (what the header promised).
        served = tenant_a.client().get("/oauth/jwks", secure=True)
        assert served["Cache-Control"] == "public, max-age=86400"
        cached_kids = kids(served.json())
        t0 = timezone.now()
        # Rotation 1 (on time for the provisioning keys) makes a brand-new next key.
        SigningKey.objects.filter(state="next").update(published_at=t0 - timedelta(days=2))
        first = rotate(t0)
        assert first.rotated
        new_next = set(first.next.values())
        assert new_next.isdisjoint(cached_kids)  # the RP's cached copy lacks it until t0+1d
        # The operator lowers the max-age to one hour.
        issuer_settings_update(jwks_max_age=3600)
        second = rotate(t0 + timedelta(seconds=3601))
        # The RP's cache (fetched at t0, max-age 86400) is still fresh at t0+3601 s and does not
        # hold the key that now signs: the promotion must wait for the promised max-age.
        assert not second.rotated, "next key promoted while RPs may still cache a JWKS without it"


def test_a_lifetime_cut_in_another_process_does_not_break_jwt_token_requests(tenant_a):
    from oauth.models import IssuerSettings
    from oauth.selectors import issuer_policy

    service = make_client(tenant_a, access_token_format="jwt", scopes=["api"])
    with tenant_a.context():
        IssuerSettings.objects.update(access_token_lifetime=7200)
        issuer_policy(fresh=True)  # this process caches 7200 for 5 s
        # Another process (no post_save signal here) lowers the lifetime.
        IssuerSettings.objects.update(access_token_lifetime=3600)
    web = tenant_a.client(raise_request_exception=False)
    from tests.oauth.factories import post_form

    response = post_form(
        web, "/oauth/token", {"grant_type": "client_credentials", "scope": "api"}, **service.basic()
    )
    assert response.status_code == 200, f"token endpoint answered {response.status_code}"


# --- F2: end-session shows "You are signed out" but keeps the session ----------------------


def test_a_malformed_logout_request_never_claims_a_sign_out_it_did_not_do(tenant_a):
    user = make_user(tenant_a)
    web = tenant_a.client()
    with tenant_a.context():
        web.force_login(user)
    response = web.get("/oauth/logout?state=a&state=b", secure=True)
    says_signed_out = b"You are signed out" in response.content
    still_signed_in = _signed_in_session(tenant_a, web)
    assert not (says_signed_out and still_signed_in), (
        f"status {response.status_code}: page tells the user they are signed out, "
        "but the session is still authenticated"
    )


# --- F3: end-session 500 on a deeply nested JSON header in id_token_hint --------------------


def test_nested_json_in_id_token_hint_is_not_a_500(tenant_a):
    header = base64.urlsafe_b64encode(b"[" * 3000).rstrip(b"=").decode()
    web = tenant_a.client(raise_request_exception=False)
    response = web.get("/oauth/logout", {"id_token_hint": f"{header}.e30.sig"}, secure=True)
    assert response.status_code < 500, f"end_session answered {response.status_code}"


# --- F4: userinfo ignores the access token's RFC 8707 audience -------------------------------


def test_prompt_none_with_max_age(tenant_a):
    """Control: prompt=none / max_age behave (expected to PASS)."""
    from tests.oauth.factories import authorize_params, pkce_pair, query_of, signed_in

    client = make_web_client(tenant_a, scopes=["openid"])
    web = signed_in(tenant_a, make_user(tenant_a))
    params = authorize_params(client, pkce_pair()[1], scope="openid", prompt="none")
    r = web.get("/oauth/authorize", params, secure=True)
    assert r.status_code == 302 and query_of(r["Location"])["error"] == "consent_required"
    r = web.get("/oauth/authorize", {**params, "max_age": "0"}, secure=True)
    assert r.status_code == 302 and query_of(r["Location"])["error"] == "login_required"
    _ = time
