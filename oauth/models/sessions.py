"""Which clients each browser session signed in to (OIDC Back-Channel Logout 1.0 §2.5)."""

from django.conf import settings
from django.db import models


class SessionClient(models.Model):
    """A client that was issued an authorization code in the user's browser session ``sid``
    (``kernel.accounts.models.UserSession.sid``): when the session ends, every such client
    with a ``backchannel_logout_uri`` gets a logout token (§2.5: the OP sends one to each RP
    the user is logged in to). One row per (session, client), written when a code is
    issued; deleted when the session ends. ``sid`` is a plain column, not a key to
    ``UserSession``: the rows are read while the session row is being deleted.
    """

    sid = models.CharField(max_length=64)
    client = models.ForeignKey("oauth.Client", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sid", "client"], name="oauth_session_client")
        ]
        # The purge's scan (workers.purge, "session_clients"), oldest first.
        indexes = [models.Index(fields=["created_at"], name="oauth_session_client_created")]
