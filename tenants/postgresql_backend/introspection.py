"""Introspection for transaction pooling: django-tenants' schema narrowing without a session SET.

django-tenants narrows introspection (table lists, columns, sequences, constraints) to
the tenant's own schema, so that a tenant's migrations never see public's tables (its
``django_migrations`` above all). It does so with three autocommit statements: ``SHOW
search_path``, a session-level ``SET search_path = <tenant>``, and a ``SET`` back. Behind a
transaction pooler each may run on another server connection: the introspection query does
not see the narrowed path, and two server connections keep a session-level search_path.
Here the same methods run with the connection's ``SET LOCAL`` narrowed to the tenant's schema.
"""

from __future__ import annotations

from django.db.backends.postgresql.introspection import DatabaseIntrospection


class TransactionPooledIntrospection(DatabaseIntrospection):
    def get_table_list(self, cursor):
        with self.connection.tenant_schema_only():
            return super().get_table_list(cursor)

    def get_table_description(self, cursor, table_name):
        with self.connection.tenant_schema_only():
            return super().get_table_description(cursor, table_name)

    def get_sequences(self, cursor, table_name, table_fields=()):
        with self.connection.tenant_schema_only():
            return super().get_sequences(cursor, table_name, table_fields)

    def get_constraints(self, cursor, table_name):
        with self.connection.tenant_schema_only():
            return super().get_constraints(cursor, table_name)
