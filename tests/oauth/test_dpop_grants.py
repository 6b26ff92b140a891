"""DPoP (RFC 9449 §5) on the grants that came beside it: a device-code poll and a token
exchange with a proof get DPoP-bound tokens (``token_type: DPoP``, ``cnf.jkt`` at
introspection), and a DPoP-bound subject token works only with its key elsewhere."""

from __future__ import annotations

import pytest

from oauth.grant_types import DEVICE_CODE, TOKEN_EXCHANGE
from tests.oauth.device.helpers import decide, enter_code, make_device_client, started
from tests.oauth.exchange.helpers import ACCESS, make_exchanger
from tests.support.dpop import DPoPKey
from tests.support.factories import (
    introspect,
    make_client,
    make_user,
    make_web_client,
    post_form,
    remember_tokens,
    signed_in,
    token_request,
    user_tokens,
)

pytestmark = pytest.mark.django_db


def _token_url(tenant) -> str:
    return tenant.issuer + "/oauth/token"


def _introspected(tenant, token: str) -> dict:
    rs = make_client(tenant, name="Resource server", can_introspect=True)
    response = introspect(tenant, rs, token)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_device_code_poll_with_a_proof_gets_a_bound_token(tenant):
    client = make_device_client(tenant)
    data = started(tenant, client, scope="api")
    web = signed_in(tenant, make_user(tenant))
    assert enter_code(web, data["user_code"]).status_code == 302
    assert decide(web, "allow").status_code == 200
    key = DPoPKey("ES256")
    response = post_form(
        tenant.client(),
        "/oauth/token",
        {
            "grant_type": DEVICE_CODE,
            "device_code": data["device_code"],
            "client_id": client.client_id,
        },
        HTTP_DPOP=key.proof("POST", _token_url(tenant)),
    )
    assert response.status_code == 200, response.content
    body = remember_tokens(response.json())
    assert body["token_type"] == "DPoP"
    info = _introspected(tenant, body["access_token"])
    assert info["active"] is True and info["cnf"] == {"jkt": key.jkt}


def test_a_token_exchange_with_a_proof_gets_a_bound_token(tenant):
    web_client = make_web_client(tenant)
    subject = user_tokens(tenant, web_client, make_user(tenant))["access_token"]
    service = make_exchanger(tenant)
    key = DPoPKey("ES256")
    response = token_request(
        tenant,
        {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject,
            "subject_token_type": ACCESS,
        },
        service,
        HTTP_DPOP=key.proof("POST", _token_url(tenant)),
    )
    assert response.status_code == 200, response.content
    body = remember_tokens(response.json())
    assert body["token_type"] == "DPoP"
    assert _introspected(tenant, body["access_token"])["cnf"] == {"jkt": key.jkt}
    # Without a proof the same exchange is a plain bearer token.
    plain = token_request(
        tenant,
        {"grant_type": TOKEN_EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS},
        service,
    )
    assert plain.status_code == 200, plain.content
    body = remember_tokens(plain.json())
    assert body["token_type"] == "Bearer"
    assert "cnf" not in _introspected(tenant, body["access_token"])
