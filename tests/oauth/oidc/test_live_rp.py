"""A strict OpenID Connect relying party against the live server, for both tenants.

Authlib's requests OAuth2Session speaks the protocol (code + PKCE S256 + nonce + state);
the id_token is checked the way a strict RP does: signature with jwcrypto against the JWKS
fetched over HTTP from the discovery document's ``jwks_uri``, then Authlib's CodeIDToken
rules (iss, aud, exp, nonce, at_hash). It reads userinfo, survives a key rotation in the
middle of the session, and signs out through the end-session endpoint.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc import discovery
from authlib.oidc.core import CodeIDToken

from tests.support import jose
from tests.support.browser import Browser
from tests.support.factories import make_client, make_user, make_web_client
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.live

REDIRECT_URI = "https://rp.example.com/callback"
LOGGED_OUT = "https://rp.example.com/logged-out"


@pytest.fixture(autouse=True)
def _plain_http_for_the_client(monkeypatch):
    # The live server speaks http on 127.0.0.1; Authlib's client refuses it otherwise.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def retire_rotated_keys(commit):
    """Rotations here are committed on the shared tenants; afterwards their retiring keys
    are retired, as if their tokens had expired, so other tests see two keys per alg."""
    rotated = []
    yield rotated.append
    from django.utils import timezone

    from oauth.models import SigningKey

    for tenant in rotated:
        with commit(tenant):
            SigningKey.objects.filter(state=SigningKey.State.RETIRING).update(
                state=SigningKey.State.RETIRED, retired_at=timezone.now(), private_key=""
            )


class RelyingParty:
    """What a strict RP keeps: the provider's metadata, its cached JWKS, its own client."""

    def __init__(self, server, tenant, client) -> None:
        self.issuer = server.issuer(tenant.host)
        url = self.issuer + "/.well-known/openid-configuration"
        self.metadata = requests.get(url, timeout=10).json()
        discovery.OpenIDProviderMetadata(self.metadata).validate()
        assert self.metadata["issuer"] == self.issuer  # Discovery §4.3: exact match
        self.client = client
        self.jwks = self.fetch_jwks()

    def fetch_jwks(self) -> dict:
        return requests.get(self.metadata["jwks_uri"], timeout=10).json()

    def session(self) -> OAuth2Session:
        return OAuth2Session(
            self.client.client_id,
            self.client.secret,
            scope="openid profile email",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
        )

    def sign_in(self, browser: Browser, **extra) -> tuple[dict, dict]:
        """The whole code flow; returns the token response and the validated id_token claims."""
        session = self.session()
        verifier = remember_secret(secrets.token_urlsafe(48))
        nonce = secrets.token_urlsafe(16)
        url, state = session.create_authorization_url(
            self.metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra
        )
        callback = browser.authorize(url)
        query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        assert query["iss"] == self.issuer and query["state"] == state  # RFC 9207
        token = session.fetch_token(
            self.metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
        for name in ("access_token", "refresh_token", "id_token"):
            remember_secret(token.get(name))
        self.session_with_token = session
        return token, self.validate_id_token(token, nonce)

    def validate_id_token(self, token: dict, nonce: str, jwks: dict | None = None) -> dict:
        algs = self.metadata["id_token_signing_alg_values_supported"]
        decoded = jose.verify(token["id_token"], jwks or self.jwks, algs)
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            options={
                "iss": {"essential": True, "value": self.issuer},
                "aud": {"essential": True, "value": self.client.client_id},
                "sub": {"essential": True},
            },
            params={
                "nonce": nonce,
                "access_token": token["access_token"],
                "client_id": self.client.client_id,
            },
        )
        claims.validate(leeway=5)
        assert "at_hash" in claims and claims["nonce"] == nonce
        return {**claims, "_kid": decoded.header["kid"]}


def _rp_and_user(server, tenant, commit):
    with commit(tenant):
        client = make_web_client(
            tenant,
            redirect_uris=[REDIRECT_URI],
            scopes=["openid", "profile", "email"],
            post_logout_redirect_uris=[LOGGED_OUT],
        )
        user = make_user(tenant)
    return RelyingParty(server, tenant, client), user


def test_strict_rp_signs_in_reads_userinfo_and_survives_a_key_rotation(
    gatehouse_server, tenant, commit, retire_rotated_keys
):
    from oauth.signing.services import rotate

    rp, user = _rp_and_user(gatehouse_server, tenant, commit)
    browser = Browser(gatehouse_server, tenant, user.username, user.raw_password)
    token, claims = rp.sign_in(browser)
    assert browser.pages == ["login", "consent"]
    assert claims["sub"] == str(user.pk) and claims["auth_time"] <= claims["iat"]

    info = rp.session_with_token.get(rp.metadata["userinfo_endpoint"])
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"]
    assert info.json()["preferred_username"] == user.username
    assert info.json()["email"] == user.email and info.json()["email_verified"] is False

    # Rotation in the middle of the session.
    jwks_before = rp.jwks
    with commit(tenant):
        outcome = rotate(force=True)
    retire_rotated_keys(tenant)
    new_kid = outcome.current["RS256"]
    assert claims["_kid"] == outcome.retiring["RS256"]
    assert new_kid in {key["kid"] for key in jwks_before["keys"]}  # published before it signed

    fresh_jwks = rp.fetch_jwks()
    first = rp.validate_id_token(token, claims["nonce"], jwks=fresh_jwks)  # earlier token
    assert first["_kid"] == claims["_kid"]

    again, again_claims = rp.sign_in(browser)  # signed in already: consent remembered
    assert browser.pages == ["login", "consent"]
    assert again_claims["_kid"] == new_kid
    assert again_claims["sub"] == claims["sub"]
    rp.validate_id_token(again, again_claims["nonce"], jwks=jwks_before)  # RP's cached JWKS
    rp.validate_id_token(again, again_claims["nonce"], jwks=fresh_jwks)

    # Sign out with the id_token as hint, back to the registered URI with state. POSTed
    # (RP-Initiated Logout §2 allows both): urllib3 logs the URLs it fetches.
    response = browser.http.post(
        rp.metadata["end_session_endpoint"],
        data={
            "id_token_hint": again["id_token"],
            "post_logout_redirect_uri": LOGGED_OUT,
            "state": "bye",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"{LOGGED_OUT}?state=bye"
    session = rp.session()
    url, state = session.create_authorization_url(
        rp.metadata["authorization_endpoint"], prompt="none", nonce="n"
    )
    silent = browser.get(url)
    assert silent.status_code == 302
    query = parse_qs(urlsplit(silent.headers["Location"]).query)
    assert query["error"] == ["login_required"] and query["state"] == [state]


def test_tokens_of_tenant_a_fail_at_tenant_b(gatehouse_server, tenant_a, tenant_b, commit):
    rp_a, user = _rp_and_user(gatehouse_server, tenant_a, commit)
    rp_b, _ = _rp_and_user(gatehouse_server, tenant_b, commit)
    with commit(tenant_b):
        resource_server_b = make_client(tenant_b, name="API", can_introspect=True)
    browser = Browser(gatehouse_server, tenant_a, user.username, user.raw_password)
    token, _claims = rp_a.sign_in(browser)
    bearer = {"Authorization": f"Bearer {token['access_token']}"}

    at_a = requests.get(rp_a.metadata["userinfo_endpoint"], headers=bearer, timeout=10)
    assert at_a.status_code == 200
    at_b = requests.get(rp_b.metadata["userinfo_endpoint"], headers=bearer, timeout=10)
    assert at_b.status_code == 401
    assert 'error="invalid_token"' in at_b.headers["WWW-Authenticate"]
    introspected = requests.post(
        rp_b.metadata["introspection_endpoint"],
        data={"token": token["access_token"]},
        auth=(resource_server_b.client_id, resource_server_b.secret),
        timeout=10,
    )
    assert introspected.status_code == 200 and introspected.json() == {"active": False}
    with pytest.raises(jose.VerificationFailed):
        jose.verify(token["id_token"], rp_b.jwks, ["RS256", "ES256"])


def test_jwt_access_tokens_verify_against_the_live_jwks_and_revoke(
    gatehouse_server, tenant, tenant_a, tenant_b, commit
):
    other = tenant_b if tenant is tenant_a else tenant_a
    api = "https://api.example.com"
    with commit(tenant):
        client = make_client(tenant, access_token_format="jwt", resources=[api])
        resource_server = make_client(tenant, name="API", can_introspect=True)
    rp = RelyingParty(gatehouse_server, tenant, client)
    with OAuth2Session(client.client_id, client.secret, scope="api") as session:
        token = session.fetch_token(
            rp.metadata["token_endpoint"], grant_type="client_credentials", resource=api
        )
    access_token = remember_secret(token["access_token"])
    decoded = jose.verify(access_token, rp.jwks, ["RS256"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.claims["aud"] == api and decoded.claims["sub"] == client.client_id
    assert decoded.claims["iss"] == rp.issuer
    other_jwks = RelyingParty(gatehouse_server, other, client).jwks
    with pytest.raises(jose.VerificationFailed):
        jose.verify(access_token, other_jwks, ["RS256"])

    def introspected() -> dict:
        return requests.post(
            rp.metadata["introspection_endpoint"],
            data={"token": access_token},
            auth=(resource_server.client_id, resource_server.secret),
            timeout=10,
        ).json()

    assert introspected()["active"] is True and introspected()["aud"] == api
    revoked = requests.post(
        rp.metadata["revocation_endpoint"],
        data={"token": access_token},
        auth=(client.client_id, client.secret),
        timeout=10,
    )
    assert revoked.status_code == 200 and introspected() == {"active": False}


@pytest.mark.django_db
def test_live_and_in_process_discovery_agree(gatehouse_server, tenant_a):
    """Also keeps this module runnable alone: pytest-django creates the test database only
    when some collected test is marked django_db."""
    live_issuer = gatehouse_server.issuer(tenant_a.host)
    live = requests.get(live_issuer + "/.well-known/openid-configuration", timeout=10).json()
    local = tenant_a.client().get("/.well-known/openid-configuration", secure=True).json()

    def relative(doc, issuer):
        return {k: v.replace(issuer, "") if isinstance(v, str) else v for k, v in doc.items()}

    assert relative(live, live_issuer) == relative(local, tenant_a.issuer)
