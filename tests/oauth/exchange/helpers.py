"""Token exchange requests (RFC 8693 §2.1) for the in-process and live tests."""

from __future__ import annotations

from tests.support.factories import make_client, remember_tokens, token_request

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
REFRESH = "urn:ietf:params:oauth:token-type:refresh_token"


def make_exchanger(tenant, **options):
    """A confidential service that may exchange tokens and get its own (client credentials)
    tokens to act with."""
    options.setdefault("name", "Exchanging service")
    options.setdefault("grant_types", ["client_credentials", TOKEN_EXCHANGE])
    return make_client(tenant, **options)


def exchange(tenant, client, subject_token: str, subject_type: str = ACCESS, **params):
    """POST a token exchange as ``client``; the answer (tokens remembered for the log guard)."""
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": subject_type,
        **params,
    }
    response = token_request(tenant, {k: v for k, v in data.items() if v is not None}, client)
    if response.status_code == 200:
        remember_tokens(response.json())
    return response


def exchanged(tenant, client, subject_token: str, subject_type: str = ACCESS, **params) -> dict:
    response = exchange(tenant, client, subject_token, subject_type, **params)
    assert response.status_code == 200, response.content
    return response.json()
