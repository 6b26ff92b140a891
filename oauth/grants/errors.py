"""Errors of the authorization and token endpoints, and how an authorization error reaches
the user: a 400 page or a redirect back to the client (RFC 6749 §4.1.2.1, RFC 9207)."""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError


def safe_text(text: str) -> str:
    """Request values quoted in an ``error_description``: RFC 6749 §5.2 allows only
    %x20-21 / %x23-5B / %x5D-7E, and Authlib's ``OAuth2Error`` raises ``ValueError`` (a 500)
    on any other character, so the rest become ``?``."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)[:300]


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is not allowed for this client."""

    error = "invalid_target"


class TemporarilyUnavailableError(OAuth2Error):
    """RFC 6749 §4.1.2.1 ``temporarily_unavailable``, at the token endpoint with a 503: the
    server cannot answer now, and the client may retry (the code clients retry on)."""

    error = "temporarily_unavailable"
    status_code = 503


class AuthorizationPageError(OAuth2Error):
    """An authorization request that cannot be sent back to the client, because the client
    or its redirect URI is unknown (RFC 6749 §4.1.2.1): shown to the user as a 400 page."""

    error = "invalid_request"


def authorization_error_location(error: OAuth2Error, issuer: str) -> str:
    """The redirect of an authorization error (RFC 6749 §4.1.2.1) with RFC 9207 ``iss``."""
    params = [(k, v) for k, v in error.get_body() if k != "error_uri"]
    params.append(("iss", issuer))
    return add_params_to_uri(error.redirect_uri, params)


def is_page_error(error: OAuth2Error) -> bool:
    """Errors that must not be redirected: no validated client and redirect URI."""
    return isinstance(error, AuthorizationPageError | InvalidClientError) or not getattr(
        error, "redirect_uri", None
    )
