"""The scope a grant issues (RFC 6749 §3.3)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidScopeError

from oauth.models import Client


def allowed_scope(client: Client, requested: str | None) -> str:
    """RFC 6749 §3.3: an omitted scope means the client's default scopes; any scope outside
    the client's allowed scopes is ``invalid_scope`` (``Client.get_allowed_scope``)."""
    scope = client.get_allowed_scope(requested)
    if scope is None:
        raise InvalidScopeError("The requested scope is not allowed for this client.")
    return scope
