"""JWT access tokens (RFC 9068) as a per-client option, with RFC 8707 resource indicators;
verified with jwcrypto against the JWKS, revoked and introspected like opaque ones."""

import hashlib

import pytest

from tests.support import jose
from tests.support.factories import (
    assert_error,
    client_credentials_token,
    get_code,
    introspect,
    make_client,
    make_user,
    make_web_client,
    pkce_pair,
    refresh,
    remember_tokens,
    revoke,
    signed_in,
    token_request,
    user_tokens,
)

pytestmark = pytest.mark.django_db

API = "https://api.example.com"
OTHER_API = "https://reports.example.com"


def _decode(tenant, token: str) -> jose.Verified:
    from oauth.signing.selectors import jwks_document

    with tenant.context():
        keys = jwks_document()
    return jose.verify(token, keys, ["RS256"])


def _row(tenant, token: str):
    from oauth.models import Token

    with tenant.context():
        return Token.objects.get(access_digest=hashlib.sha256(token.encode()).hexdigest())


def _exchange(tenant, client, code: str, verifier: str, **params):
    """The code exchange with extra token-request parameters (``resource``)."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uris[0],
        "code_verifier": verifier,
        **params,
    }
    return token_request(tenant, data, client)


def _jwt_service(tenant, **options):
    options.setdefault("resources", [API, OTHER_API])
    return make_client(tenant, access_token_format="jwt", **options)


def test_client_credentials_jwt_is_an_rfc_9068_token(tenant):
    client = _jwt_service(tenant)
    body = client_credentials_token(tenant, client, scope="api", resource=API)
    token = _decode(tenant, body["access_token"])
    assert token.header["typ"] == "at+jwt" and token.header["alg"] == "RS256"
    claims = token.claims
    assert claims["iss"] == tenant.issuer and claims["aud"] == API
    assert claims["sub"] == client.client_id == claims["client_id"]  # RFC 9068 §2.2
    assert claims["scope"] == "api" and claims["exp"] - claims["iat"] == body["expires_in"]
    row = _row(tenant, body["access_token"])
    assert row.jti == claims["jti"] and row.audience == API


def test_without_resource_the_audience_is_the_default_never_a_client_id(tenant):
    from oauth.services.issuer import issuer_settings_update

    client = _jwt_service(tenant)
    first = client_credentials_token(tenant, client, scope="api")
    assert _decode(tenant, first["access_token"]).claims["aud"] == tenant.issuer
    with tenant.context():
        issuer_settings_update(default_resource="https://default.example.com")
    second = client_credentials_token(tenant, client, scope="api")
    assert _decode(tenant, second["access_token"]).claims["aud"] == "https://default.example.com"
    with tenant.context():
        issuer_settings_update(default_resource=client.client_id)
    response = token_request(tenant, {"grant_type": "client_credentials"}, client)
    assert_error(response, 400, "invalid_target")


def test_an_unregistered_resource_is_invalid_target(tenant):
    client = _jwt_service(tenant, resources=[API])
    response = token_request(
        tenant, {"grant_type": "client_credentials", "resource": OTHER_API}, client
    )
    assert_error(response, 400, "invalid_target")


def test_jwt_access_tokens_are_introspected_and_revoked_like_opaque_ones(tenant):
    client = _jwt_service(tenant)
    resource_server = make_client(tenant, name="API", can_introspect=True)
    body = client_credentials_token(tenant, client, scope="api", resource=API)
    info = introspect(tenant, resource_server, body["access_token"]).json()
    assert info["active"] is True and info["aud"] == API
    assert info["client_id"] == client.client_id and info["iss"] == tenant.issuer
    assert revoke(tenant, client, body["access_token"]).status_code == 200
    assert introspect(tenant, resource_server, body["access_token"]).json() == {"active": False}
    assert _row(tenant, body["access_token"]).revoked_at is not None


def test_opaque_stays_the_default(tenant):
    client = make_client(tenant)
    body = client_credentials_token(tenant, client, scope="api")
    assert body["access_token"].count(".") == 0
    assert _row(tenant, body["access_token"]).jti is None


def test_code_flow_jwt_names_the_user_and_works_at_userinfo(tenant):
    client = make_web_client(
        tenant, scopes=["openid", "api"], resources=[API], access_token_format="jwt"
    )
    user = make_user(tenant)
    body = user_tokens(tenant, client, user, scope="openid api", resource=API)
    claims = _decode(tenant, body["access_token"]).claims
    assert claims["sub"] == str(user.pk) and claims["client_id"] == client.client_id
    assert claims["aud"] == API and isinstance(claims["auth_time"], int)
    id_token = _decode(tenant, body["id_token"]).claims
    assert id_token["aud"] == client.client_id != claims["aud"]
    assert id_token["at_hash"]  # over the JWT, checked by the RP tests with Authlib
    userinfo = tenant.client().get(
        "/oauth/userinfo", secure=True, HTTP_AUTHORIZATION=f"Bearer {body['access_token']}"
    )
    assert userinfo.status_code == 200 and userinfo.json() == {"sub": str(user.pk)}

    rotated = refresh(tenant, client, body["refresh_token"])
    assert rotated.status_code == 200, rotated.content
    new = remember_tokens(rotated.json())
    new_claims = _decode(tenant, new["access_token"]).claims
    assert new_claims["aud"] == API and new_claims["jti"] != claims["jti"]


def test_resource_at_the_token_endpoint_must_match_the_authorization(tenant):
    client = make_web_client(
        tenant, scopes=["openid", "api"], resources=[API, OTHER_API], access_token_format="jwt"
    )
    web = signed_in(tenant, make_user(tenant))

    verifier, challenge = pkce_pair()
    code = get_code(tenant, web, client, challenge, scope="openid", resource=API)
    mismatch = _exchange(tenant, client, code, verifier, resource=OTHER_API)
    assert_error(mismatch, 400, "invalid_target")

    verifier, challenge = pkce_pair()
    code = get_code(tenant, web, client, challenge, scope="openid")
    unregistered = _exchange(tenant, client, code, verifier, resource="https://x.example")
    assert_error(unregistered, 400, "invalid_target")

    verifier, challenge = pkce_pair()
    code = get_code(tenant, web, client, challenge, scope="openid")
    named_late = remember_tokens(_exchange(tenant, client, code, verifier, resource=API).json())
    assert _decode(tenant, named_late["access_token"]).claims["aud"] == API


def test_a_jwt_of_tenant_a_is_unknown_to_tenant_b(tenant_a, tenant_b):
    from oauth.signing.jws import JWTVerificationError, verify_jwt

    client = _jwt_service(tenant_a)
    body = client_credentials_token(tenant_a, client, scope="api", resource=API)
    with tenant_a.context():
        assert verify_jwt(body["access_token"], typ="at+jwt")["aud"] == API
    with tenant_b.context(), pytest.raises(JWTVerificationError):
        verify_jwt(body["access_token"], typ="at+jwt")
    resource_server_b = make_client(tenant_b, name="API", can_introspect=True)
    assert introspect(tenant_b, resource_server_b, body["access_token"]).json() == {"active": False}
