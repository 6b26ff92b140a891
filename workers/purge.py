"""Purging rows that nothing needs any more: one declaration per kind, batched deletes.

Every purgeable row carries an indexed timestamp after which it may go (``purge_after`` on
tokens, codes and grant families: the latest expiry plus the retention that refresh-reuse and
code-replay detection need; ``expire_date`` on sessions). A batch is one short transaction::

    DELETE FROM <schema>.<table> WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM <schema>.<table> WHERE <field> < now [AND not referenced]
        ORDER BY <field> LIMIT <batch> FOR UPDATE SKIP LOCKED))

an index range scan on ``<field>`` from its oldest end, deleting by tuple id (the rows are
locked, so their ctid cannot move before the DELETE). Rows locked by a concurrent purge or by
a refresh in flight are skipped, never waited for, so two purges at once share the work and a
purge never blocks token traffic. A batch either commits whole or not at all: a worker killed
mid-batch loses nothing, and the next run deletes what it left.

Tables are schema-qualified, so a pooled connection's ``search_path`` can never point a purge
at another tenant's table (or at public's sessions).

Adding a kind is one line in ``PURGE_KINDS``. Order matters: rows that reference others go
first (tokens before their grant families). A system check (``workers.checks``) fails when a
model pointing at a purgeable one is not declared in ``keep_while_referenced_by``.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tenants.routers import TenantSyncRouter
from django_tenants.utils import get_public_schema_name, schema_context

from kernel.conf import setting
from workers import reporting

logger = logging.getLogger(__name__)

# A batch that takes longer than this is cancelled (and retried with back-off): something is
# wrong (a missing index, a disk stall) and holding row locks longer helps nobody.
BATCH_STATEMENT_TIMEOUT_MS = 30_000
# Do not queue behind DDL (a migration holding ACCESS EXCLUSIVE): give up and retry later.
BATCH_LOCK_TIMEOUT_MS = 5_000
# Purge sessions name themselves, so a purge can tell other purges from foreground traffic.
APPLICATION_NAME = "gatehouse purge"
# A purge is background work. While other sessions are using the database, each worker process
# purges at most this many rows per second, resting in its slot after each step. On an idle
# database it never rests. What a purge costs the foreground is mostly its write-ahead log
# (~250 bytes per deleted row once checkpoints make every page a full-page image), so the
# bound is in rows: settings.GATEHOUSE["PURGE_BUSY_ROWS_PER_SECOND"] (default 10,000 in
# kernel.conf); 0 never rests. Measured in docs/benchmarks.md (token issuance during a purge).
REST_MAX_SECONDS = 2.0
# Another session counts as foreground traffic if it is running a statement now or finished
# one this recently (request traffic is many short statements, easy to miss by sampling
# "active" alone).
FOREGROUND_RECENT_MS = 50


@dataclass(frozen=True)
class PurgeKind:
    """One kind of purgeable row: ``model``'s rows go once ``field`` is in the past."""

    name: str
    model: str  # "app_label.ModelName"
    field: str
    batch_size: int
    # "app_label.Model.field" foreign keys that keep a row while any row still points at it.
    keep_while_referenced_by: tuple[str, ...] = ()
    # ("app_label.Model", "its column", "our column"): a row goes only once no row of that
    # model matches it (an index row whose subject is gone), and only ``grace_seconds``
    # after ``field``, so a row whose subject is still being written is never taken.
    missing_from: tuple[str, str, str] | None = None
    grace_seconds: int = 0
    # Rows whose going is itself an event: the batch's DELETE returns these columns and
    # hands them to this function (a dotted path), in the batch's transaction and schema.
    returning: tuple[str, ...] = ()
    on_purged: str = ""

    @cached_property
    def purged_receiver(self) -> Callable[[list[tuple]], object]:
        return import_string(self.on_purged)

    @cached_property
    def model_class(self):
        return apps.get_model(self.model)

    def exists_in(self, schema: str) -> bool:
        app_list = (
            settings.SHARED_APPS if schema == get_public_schema_name() else settings.TENANT_APPS
        )
        return TenantSyncRouter().app_in_list(self.model_class._meta.app_label, app_list)

    def _table(self, schema: str, model) -> str:
        qn = connection.ops.quote_name
        return f"{qn(schema)}.{qn(model._meta.db_table)}"

    def where_sql(self, schema: str, *, projected: bool = False) -> tuple[str, int]:
        """Rows of ``p`` that may go: past ``field`` and referenced by nothing declared.

        ``projected`` counts a row as free when every row still pointing at it is itself
        purgeable (a full purge deletes those first), which is what a dry run reports.
        Returns the SQL and how many ``now`` parameters it takes.
        """
        qn = connection.ops.quote_name
        meta = self.model_class._meta
        grace = f" - interval '{int(self.grace_seconds)} seconds'" if self.grace_seconds else ""
        conditions = [f"p.{qn(meta.get_field(self.field).column)} < %s{grace}"]
        now_params = 1
        if self.missing_from is not None:
            label, their_field, our_field = self.missing_from
            subject = apps.get_model(label)
            conditions.append(
                f"NOT EXISTS (SELECT 1 FROM {self._table(schema, subject)} m "
                f"WHERE m.{qn(subject._meta.get_field(their_field).column)} = "
                f"p.{qn(meta.get_field(our_field).column)})"
            )
        for reference in self.keep_while_referenced_by:
            label, _, fk_name = reference.rpartition(".")
            referencing = apps.get_model(label)
            fk = referencing._meta.get_field(fk_name)
            target = meta.get_field(fk.target_field.name).column
            condition = (
                f"NOT EXISTS (SELECT 1 FROM {self._table(schema, referencing)} r "
                f"WHERE r.{qn(fk.column)} = p.{qn(target)}"
            )
            referencing_kind = kind_for_model(referencing._meta.label) if projected else None
            if referencing_kind is not None:
                column = referencing._meta.get_field(referencing_kind.field).column
                condition += f" AND NOT r.{qn(column)} < %s"
                now_params += 1
            conditions.append(condition + ")")
        return " AND ".join(conditions), now_params

    def delete_sql(self, schema: str) -> tuple[str, int]:
        qn = connection.ops.quote_name
        table = self._table(schema, self.model_class)
        column = self.model_class._meta.get_field(self.field).column
        where, now_params = self.where_sql(schema)
        sql = (
            f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
            f"SELECT p.ctid FROM {table} p WHERE {where} "
            f"ORDER BY p.{qn(column)} LIMIT %s FOR UPDATE OF p SKIP LOCKED))"
        )
        if self.returning:
            meta = self.model_class._meta
            columns = ", ".join(qn(meta.get_field(name).column) for name in self.returning)
            sql += f" RETURNING {columns}"
        return sql, now_params

    def count_sql(self, schema: str, limit: int | None) -> tuple[str, int]:
        table = self._table(schema, self.model_class)
        where, now_params = self.where_sql(schema, projected=True)
        inner = f"SELECT 1 FROM {table} p WHERE {where}"
        if limit is not None:
            inner += f" LIMIT {int(limit)}"
        return f"SELECT count(*) FROM ({inner}) AS purgeable", now_params


# Batch sizes: measured with ``bench/purge.py --sweep`` (docs/benchmarks.md): 100,000 rows purged
# to the end at each size, three interleaved runs each, on the 2-core bench machine. Tokens:
# 555k rows/s at 5,000 (9 ms per batch), 791k at 10,000 (12 ms), 784k at 20,000 (26 ms),
# 910k at 50,000 (53 ms): past 10,000 a bigger batch buys little and holds its row locks
# longer. Grant families cost ~10x more per row (the two foreign keys pointing at them are
# checked for every deleted row at commit): ~70k rows/s at any size, 2,000 keeps a batch near
# 28 ms. Codes and sessions are plain rows like tokens. Audit events too (nothing points at
# them; their JSON diff makes a row a few hundred bytes, and a tenant writes far fewer of them
# than tokens): not measured on their own, the tokens' size holds a batch well under 100 ms.
PURGE_KINDS: tuple[PurgeKind, ...] = (
    PurgeKind("tokens", "oauth.Token", "purge_after", 10_000),
    PurgeKind("authorization_codes", "oauth.AuthorizationCode", "purge_after", 10_000),
    # RFC 8628 device authorizations: plain rows like codes, far fewer of them.
    PurgeKind("device_authorizations", "oauth.DeviceAuthorization", "purge_after", 10_000),
    PurgeKind(
        "grant_families",
        "oauth.GrantFamily",
        "purge_after",
        2_000,
        # CASCADE would take a family's live tokens with it: a family goes after its last token.
        keep_while_referenced_by=(
            "oauth.Token.family",
            "oauth.AuthorizationCode.family",
            "oauth.DeviceAuthorization.family",
        ),
    ),
    PurgeKind("sessions", "sessions.Session", "expire_date", 10_000),
    # The per-user index of sessions (kernel.accounts), once its session is gone: expired
    # and purged just above, or ended in a way that left the index row (a server-side
    # flush). An hour's grace: a sign-in writes the index before its session row.
    PurgeKind(
        "user_sessions",
        "accounts.UserSession",
        "created_at",
        10_000,
        missing_from=("sessions.Session", "session_key", "session_key"),
        grace_seconds=3600,
    ),
    # Which clients a session signed in to (oauth.backchannel), once the session's index row
    # went without a sign-out (purged just above): no logout token can be due for it. An
    # hour's grace, as above.
    PurgeKind(
        "session_clients",
        "oauth.SessionClient",
        "created_at",
        10_000,
        missing_from=("accounts.UserSession", "sid", "sid"),
        grace_seconds=3600,
    ),
    # Back-channel logout deliveries (oauth.backchannel's outbox): a finished row after its
    # retention, a row still pending after the maximum age, given up on and audited as
    # failed as it goes. Few rows (one per client per sign-out); plain, like sessions.
    PurgeKind(
        "backchannel_logout_deliveries",
        "oauth.BackchannelLogoutDelivery",
        "purge_after",
        10_000,
        returning=("client", "state", "sub", "attempts"),
        on_purged="oauth.backchannel.services.logout_deliveries_purged",
    ),
    # In every schema (kernel.audit is a shared and a tenant app): a tenant's events after
    # the retention it set (AuditSettings), the operators' in public after theirs.
    PurgeKind("audit_events", "audit.AuditEvent", "purge_after", 10_000),
)


def kind_for_model(label: str) -> PurgeKind | None:
    return next((kind for kind in PURGE_KINDS if kind.model == label), None)


def kinds_for_schema(schema: str) -> list[PurgeKind]:
    """The kinds whose table exists in ``schema`` (tenant apps in tenants, shared in public)."""
    return [kind for kind in PURGE_KINDS if kind.exists_in(schema)]


def purge_batch(kind: PurgeKind, *, schema: str, now: datetime.datetime) -> int:
    """Delete at most one batch of ``kind`` in ``schema``; returns the rows deleted."""
    # The name stays on the worker's own connection between batches: that is how
    # foreground_sessions() tells other purges, resting or between batches, from foreground
    # traffic. Behind a transaction pooler the server connection serves other clients next,
    # so there the name lasts only for the batch (SET LOCAL): other purges count as
    # foreground for FOREGROUND_RECENT_MS after each of their batches.
    scope = "LOCAL " if connection.settings_dict.get("POOL_MODE") == "transaction" else ""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SET LOCAL statement_timeout = {BATCH_STATEMENT_TIMEOUT_MS}; "
            f"SET LOCAL lock_timeout = {BATCH_LOCK_TIMEOUT_MS}; "
            f"SET {scope}application_name = '{APPLICATION_NAME}'"
        )
        sql, now_params = kind.delete_sql(schema)
        cursor.execute(sql, [now] * now_params + [kind.batch_size])
        deleted = cursor.rowcount
        if kind.on_purged:
            purged = cursor.fetchall()
            with schema_context(schema):
                kind.purged_receiver(purged)
        return deleted


def count_purgeable(
    kind: PurgeKind, *, schema: str, now: datetime.datetime, limit: int | None = None
) -> int:
    """Rows of ``kind`` in ``schema`` a purge would delete now (at most ``limit``)."""
    with connection.cursor() as cursor:
        sql, now_params = kind.count_sql(schema, limit)
        cursor.execute(sql, [now] * now_params)
        return cursor.fetchone()[0]


def foreground_sessions() -> int:
    """Other sessions on this database that are not purges and are busy or just were."""
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL would otherwise answer from its first snapshot.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND backend_type = 'client backend'
              AND pid <> pg_backend_pid() AND application_name <> %s
              AND (state = 'active'
                   OR state_change > clock_timestamp() - make_interval(secs => %s))
            """,
            [APPLICATION_NAME, FOREGROUND_RECENT_MS / 1000],
        )
        return cursor.fetchone()[0]


def busy_rows_per_second() -> int:
    return int(setting("PURGE_BUSY_ROWS_PER_SECOND"))


def yield_to_foreground(rows: int, step_seconds: float) -> float:
    """After a step that deleted ``rows`` in ``step_seconds``: if the database is serving
    others, rest long enough to stay within the busy rate. Returns the seconds rested."""
    rate = busy_rows_per_second()
    pause = min(rows / rate - step_seconds, REST_MAX_SECONDS) if rate > 0 else 0.0
    if pause <= 0 or not foreground_sessions():
        return 0.0
    time.sleep(pause)
    return pause


@dataclass
class StepResult:
    schema: str
    deleted: dict[str, int] = field(default_factory=dict)
    work_remains: bool = False
    rested: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def purge_schema_step(*, schema: str, now: datetime.datetime | None = None) -> StepResult:
    """One batch of every kind in ``schema``, in declaration order.

    ``work_remains`` is true when some batch came back full: the caller runs another step
    (the Celery task re-queues itself, the CLI loops). A step that deleted something rests
    before it returns if the database is busy with other work (``yield_to_foreground``).
    Rows skipped because another transaction held them are left for the next run.
    """
    now = now or timezone.now()
    started = time.monotonic()
    result = StepResult(schema=schema)
    for kind in kinds_for_schema(schema):
        deleted = purge_batch(kind, schema=schema, now=now)
        result.deleted[kind.name] = deleted
        if deleted >= kind.batch_size:
            result.work_remains = True
    if result.total:
        reporting.record_purged_rows(result.deleted)
        result.rested = yield_to_foreground(result.total, time.monotonic() - started)
        logger.info(
            "purged %s rows in %s: %s%s",
            result.total,
            schema,
            ", ".join(f"{name}={n}" for name, n in result.deleted.items() if n),
            f" (then rested {result.rested:.2f} s: the database is busy)" if result.rested else "",
        )
    return result


def purge_schema(
    *, schema: str, on_step: Callable[[StepResult], None] | None = None
) -> dict[str, int]:
    """Purge ``schema`` until nothing purgeable is left (the operator command's loop)."""
    now = timezone.now()
    totals = {kind.name: 0 for kind in kinds_for_schema(schema)}
    while True:
        step = purge_schema_step(schema=schema, now=now)
        for name, deleted in step.deleted.items():
            totals[name] += deleted
        if on_step is not None:
            on_step(step)
        if not step.work_remains:
            return totals


def count_schema(
    *, schema: str, now: datetime.datetime | None = None, limit: int | None = None
) -> dict[str, int]:
    """What a purge of ``schema`` would delete now, per kind (at most ``limit`` each)."""
    now = now or timezone.now()
    return {
        kind.name: count_purgeable(kind, schema=schema, now=now, limit=limit)
        for kind in kinds_for_schema(schema)
    }


def purge_targets(tenants: Iterable) -> list[tuple[str, str]]:
    """(label, schema) pairs to purge: each tenant by slug, then the public schema."""
    public = get_public_schema_name()
    return [(t.slug, t.schema_name) for t in tenants] + [(public, public)]
