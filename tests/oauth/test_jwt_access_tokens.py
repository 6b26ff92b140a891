"""RFC 9068 JWT access tokens for clients registered with ``--access-token-format jwt``."""

import base64
import json

import pytest

from tests.support.factories import (
    client_credentials_token,
    introspect,
    make_client,
    make_user,
    make_web_client,
    refresh,
    remember_tokens,
    revoke,
    user_tokens,
)

pytestmark = pytest.mark.django_db


def header_of(jwt: str) -> dict:
    segment = jwt.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def verified(tenant, jwt: str) -> dict:
    from oauth.signing.jws import verify_jwt

    with tenant.context():
        return verify_jwt(jwt, typ="at+jwt")


def test_client_credentials_jwt(tenant):
    client = make_client(tenant, access_token_format="jwt", resources=["https://api.example.com"])
    body = client_credentials_token(tenant, client, resource="https://api.example.com")
    token = body["access_token"]
    assert header_of(token)["typ"] == "at+jwt" and header_of(token)["kid"]
    claims = verified(tenant, token)
    assert claims["iss"] == tenant.issuer
    assert claims["aud"] == "https://api.example.com"
    assert claims["sub"] == claims["client_id"] == client.client_id
    assert claims["scope"] == "api read"
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert claims["jti"]
    assert introspect(tenant, client, token).json()["active"] is True
    assert revoke(tenant, client, token).status_code == 200
    assert introspect(tenant, client, token).json() == {"active": False}


def test_jwt_of_one_tenant_does_not_verify_in_the_other(tenant_a, tenant_b):
    from oauth.signing.jws import JWTVerificationError

    client = make_client(tenant_a, access_token_format="jwt")
    token = client_credentials_token(tenant_a, client)["access_token"]
    with pytest.raises(JWTVerificationError):
        verified(tenant_b, token)


def test_code_flow_and_refresh_jwts_carry_the_user(tenant):
    client = make_web_client(tenant, access_token_format="jwt")
    user = make_user(tenant)
    first = user_tokens(tenant, client, user)
    claims = verified(tenant, first["access_token"])
    assert claims["sub"] == str(user.pk) and claims["aud"] == tenant.issuer
    second = remember_tokens(refresh(tenant, client, first["refresh_token"]).json())
    again = verified(tenant, second["access_token"])
    assert again["sub"] == str(user.pk) and again["jti"] != claims["jti"]
