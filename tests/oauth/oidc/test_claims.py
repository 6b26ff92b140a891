"""Claims, id_tokens and JWT access tokens as oauth.oidc builds them (OIDC Core §2, §5;
RFC 9068), checked with independent code: jwcrypto for signatures, Authlib's CodeIDToken for
the id_token rules, hashlib for at_hash."""

import base64
import hashlib
import time

import pytest
from authlib.oidc.core import CodeIDToken

from tests.support import jose
from tests.support.factories import make_client, make_user, make_web_client
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db


def _keys(tenant) -> dict:
    from oauth.signing.selectors import jwks_document

    with tenant.context():
        return jwks_document()


def _user(tenant, **fields):
    from kernel.accounts.models import User

    user = make_user(tenant)
    with tenant.context():
        User.objects.filter(pk=user.pk).update(**fields)
        return User.objects.get(pk=user.pk)


def _client(tenant, pk):
    from oauth.models import Client

    with tenant.context():
        return Client.objects.get(pk=pk)


def test_openid_alone_releases_sub_only(tenant_a):
    from oauth.oidc.claims import user_claims

    user = _user(tenant_a, first_name="Ada", last_name="Lovelace", email_verified=True)
    assert user_claims(user, "openid") == {"sub": str(user.pk)}
    assert user_claims(user, "openid api read") == {"sub": str(user.pk)}


def test_profile_and_email_release_their_standard_claims(tenant_a):
    from oauth.oidc.claims import user_claims

    user = _user(tenant_a, first_name="Ada", last_name="Lovelace", email_verified=True)
    assert user_claims(user, "openid profile") == {
        "sub": user.sub,
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "preferred_username": user.username,
    }
    claims = user_claims(user, "openid email")
    assert claims == {"sub": user.sub, "email": user.email, "email_verified": True}
    unverified = _user(tenant_a)
    assert user_claims(unverified, "openid email")["email_verified"] is False


def test_empty_claims_are_left_out(tenant_a):
    """Core §5.3.2: a claim without a value is omitted, never null or ""."""
    from oauth.oidc.claims import user_claims

    user = _user(tenant_a, email="")
    claims = user_claims(user, "openid profile email")
    assert claims == {"sub": user.sub, "preferred_username": user.username}


def test_at_hash_is_the_left_half_of_sha256():
    from authlib.oidc.core.util import create_half_hash

    from oauth.oidc.tokens import half_hash

    token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
    expected = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()[:16])
    assert half_hash(token, "RS256") == expected.rstrip(b"=").decode()
    assert half_hash(token, "ES256") == create_half_hash(token, "ES256").decode()


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_id_token_passes_a_strict_validator(tenant_a, alg):
    from oauth.oidc.tokens import build_id_token

    registered = make_web_client(tenant_a)
    client = _client(tenant_a, registered.pk)
    client.id_token_signed_response_alg = alg
    user = make_user(tenant_a)
    access_token = remember_secret("opaque-access-token-value-for-at-hash")
    auth_time = int(time.time()) - 30
    with tenant_a.context():
        id_token = build_id_token(
            issuer=tenant_a.issuer,
            client=client,
            user=user,
            auth_time=auth_time,
            nonce="n-0S6_WzA2Mj",
            access_token=access_token,
            amr=["pwd", "otp", "mfa"],
        )
    token = jose.verify(id_token, _keys(tenant_a), [alg])
    assert token.header["alg"] == alg and "typ" not in token.header
    claims = CodeIDToken(
        token.claims,
        token.header,
        options={
            "iss": {"essential": True, "value": tenant_a.issuer},
            "aud": {"essential": True, "value": client.client_id},
        },
        params={
            "nonce": "n-0S6_WzA2Mj",
            "access_token": access_token,
            "client_id": client.client_id,
        },
    )
    claims.validate()
    assert set(token.claims) == {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "at_hash",
        "acr",
        "amr",
    }
    assert token.claims["amr"] == ["pwd", "otp", "mfa"]
    assert token.claims["acr"] == "urn:gatehouse:acr:mfa"
    assert token.claims["sub"] == user.sub and token.claims["aud"] == client.client_id
    assert token.claims["auth_time"] == auth_time
    assert token.claims["exp"] - token.claims["iat"] == 3600


def test_id_token_with_the_wrong_nonce_or_access_token_fails_validation(tenant_a):
    from joserfc.errors import InvalidClaimError

    from oauth.oidc.tokens import build_id_token

    client = _client(tenant_a, make_web_client(tenant_a).pk)
    with tenant_a.context():
        id_token = build_id_token(
            issuer=tenant_a.issuer,
            client=client,
            user=make_user(tenant_a),
            auth_time=int(time.time()),
            nonce="expected",
            access_token=remember_secret("the-access-token-issued-with-it"),
        )
    token = jose.verify(id_token, _keys(tenant_a), ["RS256"])
    for params in ({"nonce": "other"}, {"access_token": "another-access-token"}):
        with pytest.raises(InvalidClaimError):
            CodeIDToken(token.claims, token.header, params=params).validate()


def test_an_unsupported_id_token_alg_is_refused(tenant_a):
    from oauth.oidc.tokens import id_token_alg

    client = _client(tenant_a, make_web_client(tenant_a).pk)
    with tenant_a.context():  # the alg depends on the tenant's security profile
        assert id_token_alg(client) == "RS256"
        client.id_token_signed_response_alg = "HS256"
        with pytest.raises(ValueError, match="HS256"):
            id_token_alg(client)


def test_jwt_access_token_claims_follow_rfc_9068(tenant_a):
    from oauth.oidc.tokens import build_jwt_access_token

    client = _client(tenant_a, make_client(tenant_a).pk)
    user = make_user(tenant_a)
    with tenant_a.context():
        user_token, user_jti = build_jwt_access_token(
            issuer=tenant_a.issuer,
            client=client,
            user=user,
            scope="openid api",
            audience="https://api.example.com",
            expires_in=600,
            auth_time=1_700_000_000,
        )
        client_token, client_jti = build_jwt_access_token(
            issuer=tenant_a.issuer,
            client=client,
            user=None,
            scope="api",
            audience="https://api.example.com",
            expires_in=600,
        )
    remember_secret(user_token), remember_secret(client_token)
    decoded = jose.verify(user_token, _keys(tenant_a), ["RS256"])
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    assert claims["sub"] == user.sub and claims["client_id"] == client.client_id
    assert claims["aud"] == "https://api.example.com" and claims["iss"] == tenant_a.issuer
    assert claims["jti"] == user_jti
    assert claims["scope"] == "openid api" and claims["auth_time"] == 1_700_000_000
    assert claims["exp"] - claims["iat"] == 600
    decoded = jose.verify(client_token, _keys(tenant_a), ["RS256"])
    assert decoded.claims["sub"] == client.client_id  # RFC 9068 §2.2: no resource owner
    assert "auth_time" not in decoded.claims
    assert client_jti != user_jti


def test_jwt_access_token_audience_defaults_and_never_names_a_client(tenant_a):
    from oauth.oidc.tokens import AudienceError, access_token_audience
    from oauth.services.issuer import issuer_settings_update

    client = make_client(tenant_a)
    with tenant_a.context():
        assert access_token_audience(resource="", issuer=tenant_a.issuer) == tenant_a.issuer
        assert (
            access_token_audience(resource="https://api.example.com", issuer=tenant_a.issuer)
            == "https://api.example.com"
        )
        issuer_settings_update(default_resource="https://default.example.com")
        assert (
            access_token_audience(resource="", issuer=tenant_a.issuer)
            == "https://default.example.com"
        )
        issuer_settings_update(default_resource=client.client_id)
        with pytest.raises(AudienceError):
            access_token_audience(resource="", issuer=tenant_a.issuer)


def test_max_age_and_fresh_login(tenant_a):
    from oauth.oidc.authorization import needs_fresh_login, parse_max_age

    assert parse_max_age("0") == 0 and parse_max_age(None) is None
    for bad in ("-1", "1.5", "abc", "١٢"):
        with pytest.raises(ValueError):
            parse_max_age(bad)
    now = int(time.time())
    assert needs_fresh_login(prompts={"login"}, max_age=None, auth_time=now)
    assert needs_fresh_login(prompts=set(), max_age=0, auth_time=now)
    assert needs_fresh_login(prompts=set(), max_age=60, auth_time=now - 61)
    assert not needs_fresh_login(prompts=set(), max_age=60, auth_time=now - 5)
    assert not needs_fresh_login(prompts={"consent"}, max_age=None, auth_time=None)
