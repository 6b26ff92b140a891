"""Signals the accounts app sends, for the layers above it (which kernel cannot import)."""

from django.dispatch import Signal

#: Sent when a user's password is set by an admin or through a reset, with ``user``: every
#: grant the old password made should end (oauth revokes the user's refresh tokens).
password_replaced = Signal()
