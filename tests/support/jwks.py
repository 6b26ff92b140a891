"""JWKS and key-encryption helpers for signing-key tests."""

from __future__ import annotations

import base64
import hashlib

import requests

from tests.support.tenants import TenantInfo

KEY_DERIVATION_LABEL = b"gatehouse-key-encryption-v1:"


def fernet_key_for(value: str) -> bytes:
    """The documented derivation (oauth.signing), recomputed independently."""
    return base64.urlsafe_b64encode(hashlib.sha256(KEY_DERIVATION_LABEL + value.encode()).digest())


def fetch_jwks(server, tenant: TenantInfo) -> dict:
    response = requests.get(server.url(tenant.host, "/oauth/jwks"), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def kids(jwks: dict) -> set[str]:
    return {key["kid"] for key in jwks["keys"]}
