"""PKCE (RFC 7636) as RFC 9700 §2.1.1 tightens it: Authlib's ``CodeChallenge`` extension of
the authorization-code grant (registered in ``oauth.server``), S256 only."""

from __future__ import annotations

import hmac
import re

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge as _CodeChallenge
from authlib.oauth2.rfc7636 import create_s256_code_challenge

#: RFC 7636 §4.2: an S256 challenge is the base64url (no padding) of a 32-byte digest.
S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def compare_s256_code_challenge(code_verifier: str, code_challenge: str) -> bool:
    """RFC 7636 §4.6, compared in constant time."""
    return hmac.compare_digest(create_s256_code_challenge(code_verifier), code_challenge)


class CodeChallenge(_CodeChallenge):
    """RFC 7636 at both endpoints. At the token endpoint Authlib's ``validate_code_verifier``
    applies as is (RFC 7636 §4.5-4.6; a verifier without a challenge is refused, RFC 9700
    §4.8.2), with S256 as the only method."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant, redirect_uri) -> None:
        """Authlib's ``validate_code_challenge`` accepts a challenge without
        ``code_challenge_method`` as ``plain`` (RFC 7636 §4.3's default) and lets a public
        client start without a challenge, to fail only at the token endpoint. RFC 9700
        §2.1.1: PKCE is required for public clients and ``plain`` is not used, so here S256 is
        the only method, it must be named, and a public client without a challenge is
        refused at the authorization endpoint; confidential clients may use it."""
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        method = data.get("code_challenge_method")
        if not challenge:
            if method:
                raise InvalidRequestError("code_challenge_method was sent without code_challenge.")
            if grant.request.client.is_public:
                raise InvalidRequestError("PKCE is required: send code_challenge with method S256.")
            return
        if method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        if not S256_CHALLENGE.match(challenge):
            raise InvalidRequestError("code_challenge must be the base64url SHA-256 of a verifier.")
