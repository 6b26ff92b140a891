"""Celery tasks: each one names its tenant (or public) and calls a service. Nothing else.

Per-tenant tasks are sent by a public fan-out inside the tenant's ``schema_context``
(``workers.fanout``); tenant-schemas-celery switches the worker's connection to that schema
before the task runs, so ``connection.schema_name`` is the tenant.
"""

import logging

from django.db import InterfaceError, OperationalError, connection
from django_tenants.utils import schema_context

from kernel.conf import setting
from oauth.backchannel import selectors as backchannel_selectors
from oauth.backchannel import services as backchannel
from oauth.signing import services as key_services
from tenants.services import tenant_usage_record
from workers import backlog, fanout, purge
from workers.app import app

log = logging.getLogger(__name__)

# A database that is briefly away (failover, restart, a lock or statement timeout) is retried
# with exponential back-off and jitter; anything else is a bug and fails loudly.
RETRY_ON_DATABASE_ERRORS = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}

# Logout deliveries are sent best effort (their rows are the record; the sweep sends again
# what never arrived) on a connection of their own that tries once: Celery's pooled
# connection retries for ~6 s per message when the broker is down, on the user's request.
ENQUEUE_TIMEOUT_SECONDS = 1.0


@app.task(**RETRY_ON_DATABASE_ERRORS)
def purge_all_tenants() -> int:
    """Beat, in public: one ``purge_expired_rows`` per active tenant schema and public."""
    schemas = fanout.active_tenant_schemas(include_public=True)
    return fanout.send_to_each_schema(purge_expired_rows, schemas)


@app.task(bind=True, tenant_cache_seconds=60, **RETRY_ON_DATABASE_ERRORS)
def purge_expired_rows(self) -> int:
    """One batch per kind in this task's schema; re-queued at the back while work remains,
    so a huge tenant takes turns with every other tenant instead of starving them."""
    step = purge.purge_schema_step(schema=connection.schema_name)
    if step.work_remains:
        self.apply_async()
    return step.total


@app.task(**RETRY_ON_DATABASE_ERRORS)
def record_purge_backlog() -> int:
    """Beat, in public: measure rows past their purge time for /metrics."""
    return backlog.record_purge_backlog()


@app.task(**RETRY_ON_DATABASE_ERRORS)
def rotate_all_tenants_signing_keys() -> int:
    """Beat, in public: one ``rotate_signing_keys_if_due`` per active tenant."""
    return fanout.send_to_each_schema(rotate_signing_keys_if_due, fanout.active_tenant_schemas())


@app.task(tenant_cache_seconds=60, **RETRY_ON_DATABASE_ERRORS)
def rotate_signing_keys_if_due() -> None:
    """Rotate this tenant's signing keys if its rotation period has passed."""
    key_services.rotate_if_due()


@app.task(**RETRY_ON_DATABASE_ERRORS)
def measure_all_tenants_usage() -> int:
    """Beat, in public: one ``measure_tenant_usage`` per active tenant."""
    return fanout.send_to_each_schema(measure_tenant_usage, fanout.active_tenant_schemas())


@app.task(tenant_cache_seconds=60, **RETRY_ON_DATABASE_ERRORS)
def measure_tenant_usage() -> None:
    """Store this tenant's user and client counts for the operators' list."""
    tenant_usage_record(schema=connection.schema_name)


@app.task(bind=True, tenant_cache_seconds=60, **RETRY_ON_DATABASE_ERRORS)
def deliver_backchannel_logout(self, *, delivery_id: int | None = None, **before_outbox) -> str:
    """OIDC Back-Channel Logout 1.0 §2.5: one attempt at an outbox row, whose outcome is
    recorded there (``oauth.backchannel.services.logout_delivery_attempt`` locks, decides
    and audits); a failure that may pass is tried again after the row's back-off, as a new
    message. A message queued before the outbox existed (during the deploy that brings it)
    names the token instead of a row and is attempted, and retried, as it was then."""
    if delivery_id is None:
        attempt = before_outbox.pop("attempt", 1)
        delivery = backchannel.logout_deliver(**before_outbox, attempt=attempt)
        if delivery.outcome is backchannel.Outcome.RETRY:
            self.apply_async(
                kwargs={**before_outbox, "attempt": attempt + 1}, countdown=delivery.retry_in
            )
        return delivery.outcome.value
    delivery = backchannel.logout_delivery_attempt(delivery_id=delivery_id)
    if delivery is None:
        return "skipped"
    if delivery.outcome is backchannel.Outcome.RETRY:
        enqueue_logout_deliveries([delivery_id], countdown=delivery.retry_in)
    return delivery.outcome.value


@app.task(**RETRY_ON_DATABASE_ERRORS)
def sweep_all_tenants_backchannel_logouts() -> int:
    """Beat, in public: one ``sweep_backchannel_logouts`` per active tenant."""
    return fanout.send_to_each_schema(sweep_backchannel_logouts, fanout.active_tenant_schemas())


@app.task(tenant_cache_seconds=60, **RETRY_ON_DATABASE_ERRORS)
def sweep_backchannel_logouts() -> int:
    """Enqueue this tenant's overdue logout deliveries again (a bounded batch). Each message
    expires by the next sweep, which sends again whatever is still overdue then: workers that
    fall behind find one message per row, not one per sweep."""
    return enqueue_logout_deliveries(
        backchannel_selectors.logout_deliveries_overdue(),
        expires=int(setting("BACKCHANNEL_LOGOUT_SWEEP_INTERVAL_SECONDS")),
    )


def enqueue_logout_deliveries(
    delivery_ids: list[int], *, countdown: int = 0, expires: int | None = None
) -> int:
    """One ``deliver_backchannel_logout`` per outbox row, in the current schema, best
    effort: a broker that is down costs at most ``ENQUEUE_TIMEOUT_SECONDS``, once, and a
    warning; the rows stay pending for the sweep. Returns how many were sent."""
    sent = 0
    try:
        with app.connection_for_write(
            connect_timeout=ENQUEUE_TIMEOUT_SECONDS,
            transport_options={
                "max_retries": 0,
                "socket_connect_timeout": ENQUEUE_TIMEOUT_SECONDS,
                "socket_timeout": ENQUEUE_TIMEOUT_SECONDS,
            },
        ) as broker:
            for delivery_id in delivery_ids:
                deliver_backchannel_logout.apply_async(
                    kwargs={"delivery_id": delivery_id},
                    countdown=countdown or None,
                    expires=expires,
                    connection=broker,
                    retry=False,
                )
                sent += 1
    except Exception as error:  # noqa: BLE001 - kombu and redis raise many kinds
        log.warning(
            "%s of %s back-channel logout deliveries not queued (%s): the sweep will",
            len(delivery_ids) - sent,
            len(delivery_ids),
            type(error).__name__,
        )
    return sent


def backchannel_logout_due_receiver(sender, *, schema: str, delivery_ids: list[int], **kwargs):
    """``oauth.backchannel.signals.logout_due`` (sent once the sign-out committed): enqueue
    the deliveries in the tenant's schema. A broker that is down delays them until the
    sweep, and never fails or holds up the user's request."""
    with schema_context(schema):
        enqueue_logout_deliveries(delivery_ids)
