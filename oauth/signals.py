"""Signals other layers listen to (metrics), so oauth imports nothing above it."""

from django.dispatch import Signal

#: Sent after a token response is issued: kwargs grant_type (str), client_id (str).
token_issued = Signal()
