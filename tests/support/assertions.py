"""Client assertions (RFC 7523 §3) for tests: what a ``private_key_jwt`` client sends."""

from __future__ import annotations

import time
import uuid

from joserfc import jwt

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def public_set(*keys) -> dict:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def assertion(client_id: str, key, aud: str, *, alg: str = "ES256", header=None, **claims):
    now = int(time.time())
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    body = {name: value for name, value in body.items() if value is not None}
    head = {"alg": alg, **({"kid": key.kid} if key.kid else {}), **(header or {})}
    return jwt.encode(head, body, key, algorithms=[alg])


def assertion_auth(client_id: str, key, aud: str, **options) -> dict[str, str]:
    """The body parameters of ``private_key_jwt`` client authentication."""
    return {
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(client_id, key, aud, **options),
    }
