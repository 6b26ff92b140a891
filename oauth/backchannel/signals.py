"""The seam between oauth and the workers layer above it (which oauth cannot import)."""

from django.dispatch import Signal

#: Sent after a transaction that ended a session commits, once per client to notify, with
#: ``schema`` (the tenant's), ``client_id``, ``issuer``, ``sub`` and ``sid``: the workers
#: layer enqueues the delivery (``workers.tasks.deliver_backchannel_logout``).
logout_due = Signal()
