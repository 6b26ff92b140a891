"""PKCE (RFC 7636) as RFC 9700 §2.1.1 tightens it: S256 only, required for public clients
at the authorization endpoint, honoured for confidential clients."""

import secrets

import pytest

from tests.support.factories import (
    assert_error,
    authorize_params,
    exchange_code,
    get_code,
    make_public_client,
    make_user,
    make_web_client,
    pkce_pair,
    query_of,
    remember_tokens,
    signed_in,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(tenant):
    return signed_in(tenant, make_user(tenant))


def authorize_error(tenant, web, client, **params) -> str:
    response = web.get("/oauth/authorize", authorize_params(client, **params), secure=True)
    assert response.status_code == 302, response.content
    query = query_of(response["Location"])
    assert query["iss"] == tenant.issuer
    return query.get("error", "")


def test_public_client_without_challenge_is_refused_at_the_authorization_endpoint(tenant, web):
    public = make_public_client(tenant)
    assert authorize_error(tenant, web, public) == "invalid_request"


@pytest.mark.parametrize(
    "params",
    [
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
        {"code_challenge_method": "S512"},
        {"code_challenge": "short"},
        {"code_challenge": "a" * 44},
        {"code_challenge": "+" * 43},
    ],
    ids=["plain", "no-method", "unknown-method", "short", "too-long", "bad-chars"],
)
def test_bad_challenges_are_refused(tenant, web, params):
    _, challenge = pkce_pair()
    client = make_web_client(tenant)
    merged = {"code_challenge": challenge, "code_challenge_method": "S256", **params}
    merged = {k: v for k, v in merged.items() if v is not None}
    assert authorize_error(tenant, web, client, **merged) == "invalid_request"


def test_public_client_with_s256_gets_tokens(tenant, web):
    public = make_public_client(tenant)
    verifier, challenge = pkce_pair()
    code = get_code(tenant, web, public, challenge)
    response = exchange_code(tenant, public, code, verifier)
    assert response.status_code == 200
    body = remember_tokens(response.json())
    assert body["refresh_token"]


def test_wrong_verifier_is_invalid_grant_and_the_code_stays_usable(tenant, web):
    client = make_web_client(tenant)
    verifier, challenge = pkce_pair()
    code = get_code(tenant, web, client, challenge)
    other = secrets.token_urlsafe(48)
    assert_error(exchange_code(tenant, client, code, other), 400, "invalid_grant")
    assert exchange_code(tenant, client, code, verifier).status_code == 200


def test_missing_or_malformed_verifier_is_invalid_request(tenant, web):
    client = make_web_client(tenant)
    verifier, challenge = pkce_pair()
    code = get_code(tenant, web, client, challenge)
    assert_error(exchange_code(tenant, client, code), 400, "invalid_request")
    assert_error(exchange_code(tenant, client, code, "short"), 400, "invalid_request")
    remember_tokens(exchange_code(tenant, client, code, verifier).json())


def test_verifier_without_a_challenge_is_refused(tenant, web):
    client = make_web_client(tenant)  # confidential: PKCE optional
    code = get_code(tenant, web, client)
    verifier, _ = pkce_pair()
    assert_error(exchange_code(tenant, client, code, verifier), 400, "invalid_request")
    remember_tokens(exchange_code(tenant, client, code).json())


def test_confidential_client_s256_is_honoured(tenant, web):
    client = make_web_client(tenant)
    verifier, challenge = pkce_pair()
    code = get_code(tenant, web, client, challenge)
    assert_error(exchange_code(tenant, client, code), 400, "invalid_request")
    response = exchange_code(tenant, client, code, verifier)
    assert response.status_code == 200
    remember_tokens(response.json())
