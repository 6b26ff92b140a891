"""Random credentials and their digests (DESIGN.md §3): the one digest helper.

Client secrets, access and refresh tokens, authorization codes and one-time sign-in links
are 256-bit random values
(``secrets.token_urlsafe(32)``). Only their SHA-256 hex digest is stored and looked up: a
value with 256 bits of entropy cannot be guessed from its digest, so a fast hash is the right
tool and a password KDF would only slow every token request down.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: Bytes of randomness in every secret, token and code (RFC 6749 §10.10, RFC 9700 §4.1.3).
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh 256-bit random value, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def new_client_id() -> str:
    """A public, unguessable client identifier (RFC 6749 §2.2)."""
    return secrets.token_urlsafe(18)


def digest(value: str) -> str:
    """SHA-256 hex digest of ``value`` (UTF-8), the only form in which it is stored."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def matches(value: str, stored_digest: str) -> bool:
    """Whether ``value`` hashes to ``stored_digest``, compared in constant time."""
    if not stored_digest:
        return False
    return hmac.compare_digest(digest(value), stored_digest)
