"""Thin views over the one AuthorizationServer (oauth.server)."""

from oauth.views.authorize import authorize, consent, login
from oauth.views.endpoints import introspect, metadata, par, revoke, token

__all__ = ["authorize", "consent", "introspect", "login", "metadata", "par", "revoke", "token"]
