"""Celery tasks: each one names its tenant (or public) and calls a service. Nothing else.

Per-tenant tasks are sent by a public fan-out inside the tenant's ``schema_context``
(``workers.fanout``); tenant-schemas-celery switches the worker's connection to that schema
before the task runs, so ``connection.schema_name`` is the tenant.
"""

import logging

from django.db import InterfaceError, OperationalError, connection
from django_tenants.utils import schema_context

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
def deliver_backchannel_logout(
    self, *, client_id: str, issuer: str, sub: str, sid: str, attempt: int = 1
) -> str:
    """OIDC Back-Channel Logout 1.0 §2.5: one attempt to POST a logout token to a client;
    a failure that may pass is tried again later, with exponential back-off, as a new
    message (``oauth.backchannel.services.logout_deliver`` decides and audits)."""
    delivery = backchannel.logout_deliver(
        client_id=client_id, issuer=issuer, sub=sub, sid=sid, attempt=attempt
    )
    if delivery.outcome is backchannel.Outcome.RETRY:
        self.apply_async(
            kwargs={
                "client_id": client_id,
                "issuer": issuer,
                "sub": sub,
                "sid": sid,
                "attempt": attempt + 1,
            },
            countdown=delivery.retry_in,
        )
    return delivery.outcome.value


def backchannel_logout_due_receiver(
    sender, *, schema: str, client_id: str, issuer: str, sub: str, sid: str, **kwargs
) -> None:
    """``oauth.backchannel.signals.logout_due`` (sent once the sign-out committed): enqueue
    the delivery in the tenant's schema. A broker that is down costs this sign-out its
    notification, never the user's request."""
    try:
        with schema_context(schema):
            deliver_backchannel_logout.apply_async(
                kwargs={"client_id": client_id, "issuer": issuer, "sub": sub, "sid": sid},
                retry=False,
            )
    except Exception as error:  # noqa: BLE001 - kombu and redis raise many kinds
        log.warning(
            "back-channel logout for client %s not queued: %s", client_id, type(error).__name__
        )
