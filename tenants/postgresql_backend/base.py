"""The database backend: django-tenants' wrapper, plus a transaction-pooling mode.

django-tenants selects a tenant with a session-level ``SET search_path`` that it issues once
per connection and tenant switch (``TENANT_LIMIT_SET_CALLS``). Behind a pooler in transaction
mode (PgBouncer ``pool_mode = transaction``, RDS Proxy, most managed poolers) the client's
next transaction may run on another server connection, whose ``search_path`` some other
client set: reads and writes land in another tenant's schema (django-tenants issues #545,
#732, #1112; measured here: 77 of ~500 tokens written into the other tenant's schema).

``POOL_MODE = "session"`` (the default) is django-tenants' behaviour, plus psycopg's
server-side binding and prepared statements (settings: ``server_side_binding``,
``prepare_threshold``; ``PREPARED_MAX`` sets ``Connection.prepared_max``, the statements kept
per connection): the server session is ours, and PostgreSQL re-plans a prepared statement when
its tables change or the ``search_path`` differs from the one it was prepared under
(https://www.postgresql.org/docs/current/sql-prepare.html, "Notes"). The hot path's
schema-qualified statements (``schema_qualified_cursor``) run there on psycopg's
``RawCursor``, their placeholders numbered once per statement (``native_placeholders``).

``POOL_MODE = "transaction"`` never issues a session-level ``SET``. Instead each transaction
carries its own ``SET LOCAL search_path`` (``cursors.TenantPinnedCursor``), which PostgreSQL
reverts when the transaction ends, so no server connection keeps a tenant's schema
(https://www.postgresql.org/docs/current/sql-set.html). It also

- narrows introspection to the tenant's schema with that ``SET LOCAL`` instead of
  django-tenants' session-level ``SET`` and ``SET`` back (``introspection.py``);
- turns server-side cursors off (``DISABLE_SERVER_SIDE_CURSORS``: Django's ``iterator()``
  declares them ``WITH HOLD`` outside a transaction, and they live in the session;
  https://docs.djangoproject.com/en/stable/ref/databases/#transaction-pooling-server-side-cursors);
- refuses what needs session state or server-side statements: prepared statements
  (``prepare_threshold`` must stay ``None``, Django's default), ``server_side_binding``
  (the ``SET LOCAL`` travels in the same simple-protocol query as the statement, which the
  extended protocol does not allow) and ``assume_role`` (a session-level ``SET ROLE``).

Django's health check (``CONN_HEALTH_CHECKS``: a ``SELECT 1`` round trip before a request
reuses a persistent connection) is skipped while the connection is busy: when the previous
request on it ended cleanly less than ``HEALTH_CHECK_IDLE_SECONDS`` ago (settings key, default
1 s). A connection that sat idle longer, or whose last request had an error, is checked as
Django checks it. Under load that saves a round trip per request; a server restart is still
found on the first request after an idle spell, and a request that meets a connection broken
mid-load is answered 503 and the connection closed (``kernel.views``, Django's
``errors_occurred``).

Django's own session-level time zone (set on connect when the server's differs) stays: every
Gatehouse process sets the same one, and PgBouncer restores each client's ``TimeZone``.

Statements PostgreSQL refuses inside a transaction block (``VACUUM``,
``CREATE INDEX CONCURRENTLY``) cannot run in transaction mode; none of Gatehouse's do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations
from django.db.backends.postgresql.psycopg_any import register_tzloader
from django.utils.asyncio import async_unsafe
from django.utils.functional import cached_property
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import quote_schema_name
from psycopg.pq import Format

from tenants.postgresql_backend.cursors import TenantPinnedCursor
from tenants.postgresql_backend.introspection import (
    SessionIntrospection,
    TransactionPooledIntrospection,
)

#: A connection whose last request ended cleanly this recently is not health-checked again.
HEALTH_CHECK_IDLE_SECONDS = 1.0

SESSION = "session"
TRANSACTION = "transaction"
POOL_MODES = (SESSION, TRANSACTION)


#: The type whose text loader carries a cursor's time zone (as Django's ``create_cursor``).
TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid


class DatabaseOperations(PostgresOperations):
    def last_executed_query(self, cursor, sql, params):
        """A native-placeholder statement (``schema_qualified_cursor``) as it was sent: Django
        would compose it with psycopg's client-side quoting, which reads ``%s`` only. Its
        values stay out of the debug log (``connection.queries``)."""
        if isinstance(cursor, psycopg.RawCursor):
            return sql
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(TenantDatabaseWrapper):
    """django-tenants' ``DatabaseWrapper``; in transaction mode, schemas per transaction."""

    ops_class = DatabaseOperations

    def __init__(self, settings_dict, *args, **kwargs):
        self.pool_mode = settings_dict.get("POOL_MODE", SESSION)
        if self.pool_mode not in POOL_MODES:
            raise ImproperlyConfigured(
                f"DATABASES POOL_MODE must be one of {', '.join(POOL_MODES)}, "
                f"got {self.pool_mode!r}"
            )
        self.transaction_pooling = self.pool_mode == TRANSACTION
        # The SET LOCAL for the current tenant (built on first use after a switch), and the
        # one already in effect in the open transaction, if this backend issued it there.
        self._search_path_statement: str | None = None
        self.pinned_search_path: str | None = None
        #: Session mode: the search_path the server session has (from the last SET that
        #: succeeded on this connection), or None when unknown.
        self._session_search_path: list[str] | None = None
        self.health_check_idle_seconds = float(
            settings_dict.get("HEALTH_CHECK_IDLE_SECONDS", HEALTH_CHECK_IDLE_SECONDS)
        )
        #: ``time.monotonic()`` when a request last finished cleanly on this connection.
        self._clean_since: float | None = None
        if self.transaction_pooling:
            _refuse_session_state(settings_dict.get("OPTIONS") or {})
            settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
        super().__init__(settings_dict, *args, **kwargs)
        if self.transaction_pooling:
            self.introspection = TransactionPooledIntrospection(self)
        else:
            self.introspection = SessionIntrospection(self)

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if self.transaction_pooling:
            # Set on the connection this wrapper got, not in conn_params: with OPTIONS "pool",
            # psycopg's pool hands one connection to many wrappers in turn.
            connection.cursor_factory = partial(TenantPinnedCursor, database=self)
        elif "PREPARED_MAX" in self.settings_dict:
            # psycopg's default keeps 100 prepared statements per connection; the hot
            # statements are schema-qualified (oauth.rowsql), a few per tenant.
            connection.prepared_max = int(self.settings_dict["PREPARED_MAX"])
        return connection

    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and not self.health_check_done
            and self._clean_since is not None
            and time.monotonic() - self._clean_since < self.health_check_idle_seconds
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def close_if_unusable_or_obsolete(self):
        clean = self.connection is not None and not self.errors_occurred
        super().close_if_unusable_or_obsolete()
        self._clean_since = time.monotonic() if clean and self.connection is not None else None

    def set_tenant(self, tenant, include_public=True):
        """django-tenants' ``set_tenant`` forgets the session's ``search_path`` on every
        call (the routing middleware makes two per request: public, then the tenant), so
        each request re-issues the same ``SET`` on a persistent connection. In session mode
        the one the session already has is kept when it is the one needed: it is tracked
        from each ``SET`` that succeeded and forgotten on close, rollback and savepoint
        rollback (each may have discarded it), as django-tenants forgets its own."""
        super().set_tenant(tenant, include_public)
        self._search_path_statement = None
        if (
            not self.transaction_pooling
            and self._session_search_path is not None
            and self.connection is not None
            and self._get_cursor_search_paths() == self._session_search_path
        ):
            self.search_path_set_schemas = self._session_search_path

    def close(self):
        self._session_search_path = None
        super().close()

    def rollback(self):
        self._session_search_path = None
        super().rollback()

    def savepoint_rollback(self, sid):
        try:
            super().savepoint_rollback(sid)
        finally:
            self._session_search_path = None

    def _handle_search_path(self, cursor=None):
        if not self.transaction_pooling:
            result = super()._handle_search_path(cursor)
            # What the session has now: the SET just issued, or None if it failed.
            self._session_search_path = self.search_path_set_schemas
            return result
        # No session-level SET: the cursor prefixes SET LOCAL to the transaction's statements.
        self.search_path_statement()
        return None

    @async_unsafe
    def schema_qualified_cursor(self):
        """A cursor for statements that name the tenant's schema on every table they touch
        (``oauth.rowsql.in_schema``), so that no ``search_path`` has to be set for them.

        Session mode: Django's cursor without django-tenants' ``SET search_path`` before it.
        With 1,000 tenants hit at random nearly every request switches tenant, and that
        ``SET`` was a round trip of its own plus a revalidation of the cached plans it
        reuses (the token INSERT's foreign-key checks): measured 0.33 ms PostgreSQL CPU per
        INSERT with a ``SET`` before each against 0.22 ms schema-qualified
        (``bench/schema_switch.py``). The session's ``search_path`` is left as it was (some
        other tenant's, or none): the next cursor from ``cursor()`` sets the current one as
        before, since nothing here claims it is set. Transaction mode: the usual cursor, whose
        ``SET LOCAL`` rides in the statement's own query (no round trip to save).
        """
        if self.transaction_pooling:
            return self.cursor()
        if not self.native_placeholders:
            # BaseDatabaseWrapper._cursor: the health check, the connection, the debug
            # wrapper; not django-tenants' override, which issues the SET.
            return super(TenantDatabaseWrapper, self)._cursor()
        # The same steps as BaseDatabaseWrapper._cursor, on psycopg's RawCursor.
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            cursor = psycopg.RawCursor(self.connection)
            # Django's create_cursor: the cursor's time zone when the connection's differs.
            loader = self.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
            if self.timezone != loader.timezone:
                register_tzloader(self.timezone, cursor)
            return self._prepare_cursor(cursor)

    @cached_property
    def native_placeholders(self) -> bool:
        """Whether ``schema_qualified_cursor`` takes PostgreSQL's own ``$1, $2, ...``
        placeholders (psycopg's ``RawCursor``): in session mode with server-side binding.

        psycopg converts ``%s`` to ``$n`` on every execution, with a cache of 128 statement
        texts; a schema-qualified statement's text is per tenant, so with 1,000 tenants it
        converted (a regular-expression pass over the statement) on nearly every request:
        70 us for the token INSERT's 20 placeholders, measured on the benchmark's seed.
        ``oauth.rowsql.in_schema`` numbers the placeholders once per statement instead, and
        gives ``%s`` where this is False (transaction mode binds on the client, in one
        query with its ``SET LOCAL``)."""
        return not self.transaction_pooling and self.features.uses_server_side_binding

    def search_path_statement(self) -> str:
        """``SET LOCAL search_path = "<tenant>", "public"`` for the current tenant."""
        if self._search_path_statement is None:
            if not self.schema_name:
                raise ImproperlyConfigured(
                    "Database schema not set. Did you forget to call set_schema() or set_tenant()?"
                )
            schemas = ", ".join(quote_schema_name(s) for s in self._get_cursor_search_paths())
            self._search_path_statement = f"SET LOCAL search_path = {schemas}"
        return self._search_path_statement

    @contextmanager
    def tenant_schema_only(self) -> Iterator[None]:
        """Statements inside see the current schema alone, as django-tenants' introspection
        makes them (``introspection.py``); the next statement after sets the full path."""
        self._search_path_statement = (
            f"SET LOCAL search_path = {quote_schema_name(self.schema_name)}"
        )
        try:
            yield
        finally:
            self._search_path_statement = None

    def _savepoint_rollback(self, sid):
        try:
            super()._savepoint_rollback(sid)
        finally:
            # ROLLBACK TO SAVEPOINT undoes a SET LOCAL issued after the savepoint: forget it,
            # so the next statement sets the search_path again.
            self.pinned_search_path = None


def _refuse_session_state(options: dict) -> None:
    """OPTIONS that keep state in the server session, or break the one-query SET LOCAL."""
    refused = {
        "prepare_threshold": (
            options.get("prepare_threshold") is not None,
            "prepared statements live in one server session",
        ),
        "server_side_binding": (
            options.get("server_side_binding") is True,
            "the extended protocol cannot carry SET LOCAL in the statement's query",
        ),
        "assume_role": (bool(options.get("assume_role")), "SET ROLE is session state"),
    }
    for option, (present, reason) in refused.items():
        if present:
            raise ImproperlyConfigured(
                f"DATABASES OPTIONS {option!r} cannot be used with POOL_MODE 'transaction': "
                f"{reason}"
            )
