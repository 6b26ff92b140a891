"""The seam between oauth and the workers layer above it (which oauth cannot import)."""

from django.dispatch import Signal

#: Sent after a transaction that ended a session commits, with ``schema`` (the tenant's)
#: and ``delivery_ids``, the outbox rows (``BackchannelLogoutDelivery``) it wrote: the
#: workers layer enqueues one delivery per row (``workers.tasks.deliver_backchannel_logout``).
logout_due = Signal()
