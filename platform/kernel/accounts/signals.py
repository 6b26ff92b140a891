"""Signals the accounts app sends, for the layers above it (which kernel cannot import)."""

from django.dispatch import Signal

#: Sent when a user's password is set by an admin or through a reset, with ``user``: every
#: grant the old password made should end (oauth revokes the user's refresh tokens).
password_replaced = Signal()

#: Sent while sessions of one user end (sign-out, an admin ending them, a password reset, the
#: user disabled or deleted), inside the transaction that ends them, with ``user_id`` (the
#: user's pk, their OIDC ``sub``) and ``sids`` (the ended sessions' OIDC ``sid`` values):
#: oauth tells the clients of those sessions (OIDC Back-Channel Logout 1.0).
sessions_ended = Signal()
