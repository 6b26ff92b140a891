"""A psycopg cursor whose every transaction sets its own ``search_path`` (transaction pooling).

A transaction-mode pooler hands a server connection to a client for one transaction, so the
only schema selection it cannot mix up is one made inside that transaction: ``SET LOCAL``,
which lasts "only till the end of the current transaction"
(https://www.postgresql.org/docs/current/sql-set.html).

- Outside a transaction block (autocommit) every statement is its own transaction. The
  ``SET LOCAL`` is sent in the same simple-protocol query, ahead of the statement: PostgreSQL
  runs a multi-statement query as one implicit transaction block, so the setting holds for
  the statement and no longer, and the pooler keeps the query on one server connection
  (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-MULTI-STATEMENT).
  Django's psycopg 3 backend binds parameters client-side (``ClientCursor``), so the merged
  query goes out as one simple query. The first result (the ``SET``) is skipped, so
  ``rowcount``, ``description``, ``fetch*()``, ``statusmessage`` and ``RETURNING`` rows are
  the statement's own, as without the prefix.
- Inside a transaction block (``atomic``) the first statement after ``BEGIN`` pins the server
  connection until ``COMMIT``/``ROLLBACK``, so the ``SET LOCAL`` rides on the transaction's
  first statement and again only when the tenant changes or a ``ROLLBACK TO SAVEPOINT`` may
  have undone it (the wrapper forgets it then). A transaction only ever starts with a
  statement sent through here (psycopg sends ``BEGIN`` right before it), so "no transaction
  open before the statement" is exactly "this statement starts one".
- ``executemany()`` (a pipeline), ``copy()`` and ``stream()`` cannot carry a second statement:
  they run in a transaction that gets the ``SET LOCAL`` first, opened around them when the
  connection is in autocommit. psycopg's pipelined ``executemany()`` in autocommit is already
  one implicit transaction (all rows or none), so that changes nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.backends.postgresql.base import Cursor
from psycopg.pq import TransactionStatus

IDLE = TransactionStatus.IDLE
INTRANS = TransactionStatus.INTRANS
INERROR = TransactionStatus.INERROR


class TenantPinnedCursor(Cursor):
    """Django's client-side-binding psycopg cursor, setting ``search_path`` per transaction.

    ``database`` is the Django ``DatabaseWrapper``: it knows the current tenant's
    ``SET LOCAL`` and which one the open transaction already has.
    """

    def __init__(self, connection, *, database, **kwargs):
        super().__init__(connection, **kwargs)
        self._database = database

    def _needed_search_path(self) -> str | None:
        """The ``SET LOCAL`` the next statement needs, or None when its transaction has it."""
        statement = self._database.search_path_statement()
        status = self.connection.pgconn.transaction_status
        if status == INERROR:
            return None  # the statement fails either way; keep PostgreSQL's own error
        if status == INTRANS and self._database.pinned_search_path == statement:
            return None
        return statement

    def _remember(self, statement: str) -> None:
        in_block = self.connection.pgconn.transaction_status == INTRANS
        self._database.pinned_search_path = statement if in_block else None

    def execute(self, query, params=None, *, prepare=None, binary=None):
        statement = self._needed_search_path()
        if statement is None:
            return super().execute(query, params, prepare=prepare, binary=binary)
        merged = self.mogrify(query, params)
        if not merged.strip():  # nothing to run, nothing to set: PostgreSQL's empty answer
            return super().execute(merged, prepare=prepare, binary=binary)
        super().execute(f"{statement}; {merged}", prepare=prepare, binary=binary)
        self.nextset()  # past the SET's result, to the statement's own
        self._remember(statement)
        return self

    @contextmanager
    def _transaction_with_search_path(self) -> Iterator[None]:
        """Run the body in a transaction that has the search_path set (opened if need be)."""
        connection = self.connection
        if not (connection.autocommit and connection.pgconn.transaction_status == IDLE):
            statement = self._needed_search_path()
            if statement is not None:
                super().execute(statement)
                self._remember(statement)
            yield
            return
        statement = self._database.search_path_statement()
        try:
            with connection.transaction():
                super().execute(statement)
                self._database.pinned_search_path = statement
                yield
        finally:
            self._database.pinned_search_path = None

    def executemany(self, query, params_seq, *, returning=False):
        with self._transaction_with_search_path():
            return super().executemany(query, params_seq, returning=returning)

    @contextmanager
    def copy(self, statement, params=None, *, writer=None):
        with (
            self._transaction_with_search_path(),
            super().copy(statement, params, writer=writer) as copy,
        ):
            yield copy

    def stream(self, query, params=None, *, binary=None, size=1):
        with self._transaction_with_search_path():
            yield from super().stream(query, params, binary=binary, size=size)
