"""The hot path's statements name the tenant's schema and need no ``SET search_path``.

``oauth.rowsql.in_schema`` statements run on ``qualified_cursor()``, which skips
django-tenants' ``SET``: the server session may still have another tenant's ``search_path``
when they run. Each test leaves the session on tenant A's path, switches the connection to B,
runs a hot-path statement, and checks that it read or wrote B's rows and nothing of A's, and
that no ``SET`` was sent (the session still shows A's path); then that the next ORM statement
does set B's path before it runs.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.support.factories import make_client

pytestmark = pytest.mark.django_db


def session_search_path() -> str:
    """The server session's ``search_path``, read through libpq: no cursor, no ``SET``."""
    result = connection.connection.pgconn.exec_(b"SHOW search_path")
    return result.get_value(0, 0).decode()


@pytest.fixture
def rows(tenant_a, tenant_b):
    """The two Tenant rows, read before any test leaves the session on a path."""
    from tenants.models import Tenant

    connection.set_schema_to_public()
    return {
        info.schema: Tenant.objects.get(schema_name=info.schema) for info in (tenant_a, tenant_b)
    }


def leave_session_on(rows, tenant) -> None:
    """Make the session's ``search_path`` ``tenant``'s with an ORM statement."""
    from oauth.models import Client

    connection.set_tenant(rows[tenant.schema])
    Client.objects.count()
    assert tenant.schema in session_search_path()


def switch_to(rows, tenant) -> None:
    """Select ``tenant`` on the connection, as the routing middleware does (no statement)."""
    connection.set_tenant(rows[tenant.schema])


def test_token_insert_lands_in_the_current_tenant_without_a_set(tenant_a, tenant_b, rows):
    from oauth.models import Client, Token
    from oauth.services.tokens import token_issue

    a_client = make_client(tenant_a)
    b_client = make_client(tenant_b)
    leave_session_on(rows, tenant_a)
    switch_to(rows, tenant_b)
    client = Client.objects.get(client_id=b_client.client_id)  # sets B's path
    leave_session_on(rows, tenant_a)
    switch_to(rows, tenant_b)

    row = token_issue(client=client, token={"access_token": "qualified-1", "expires_in": 60})

    assert tenant_a.schema in session_search_path()  # no SET was sent for the INSERT
    with connection.cursor() as cursor:  # Django's cursor: sets B's path first
        assert tenant_b.schema in session_search_path()
        cursor.execute("SELECT count(*) FROM oauth_token WHERE id = %s", [row.pk])
        assert cursor.fetchone()[0] == 1
    with tenant_a.context():
        assert not Token.objects.filter(client__client_id=b_client.client_id).exists()
        assert not Token.objects.filter(pk=row.pk, client__client_id=a_client.client_id).exists()


def test_a_client_of_another_tenant_confirms_nothing(tenant_a, tenant_b, rows):
    """The INSERT's confirmation reads the client in the current schema: a client row of
    A (same pk and updated_at as read in A) cannot confirm a token at B."""
    from oauth.models import Client, Token
    from oauth.services.tokens import StaleClient, token_issue

    a_client = make_client(tenant_a)
    with tenant_a.context():
        client = Client.objects.get(client_id=a_client.client_id)
    leave_session_on(rows, tenant_a)
    switch_to(rows, tenant_b)
    with tenant_b.context():
        before = Token.objects.count()
        exists_in_b = Client.objects.filter(
            pk=client.pk, updated_at=client.updated_at, disabled=False
        ).exists()
    assert not exists_in_b
    switch_to(rows, tenant_b)
    with pytest.raises(StaleClient):
        token_issue(client=client, token={"access_token": "qualified-2", "expires_in": 60})
    with tenant_b.context():
        assert Token.objects.count() == before


def test_presented_token_lookup_reads_the_current_tenant_only(tenant_a, tenant_b, rows):
    from kernel import credentials
    from oauth import selectors
    from oauth.models import Client
    from oauth.services.tokens import token_issue

    b_client = make_client(tenant_b)
    with tenant_b.context():
        client = Client.objects.get(client_id=b_client.client_id)
        token_issue(client=client, token={"access_token": "qualified-3", "expires_in": 60})
    leave_session_on(rows, tenant_a)
    switch_to(rows, tenant_b)
    found = selectors.token_by_value(value="qualified-3")
    assert tenant_a.schema in session_search_path()
    assert found is not None and found[0].access_digest == credentials.digest("qualified-3")
    switch_to(rows, tenant_a)
    assert selectors.token_by_value(value="qualified-3") is None


def test_issuer_policy_and_signing_context_are_the_current_tenants(tenant_a, tenant_b, rows):
    from oauth import selectors
    from oauth.models import IssuerSettings, SigningKey
    from oauth.signing.context import signing_context

    with tenant_b.context():
        settings_b = IssuerSettings.load()
        original = settings_b.access_token_lifetime
        settings_b.access_token_lifetime = 1234
        settings_b.save()
        key_b = SigningKey.objects.get(state=SigningKey.State.CURRENT, alg="RS256")
    try:
        leave_session_on(rows, tenant_a)
        switch_to(rows, tenant_b)
        policy = selectors.issuer_policy(fresh=True)
        context = signing_context("RS256")
        assert tenant_a.schema in session_search_path()
        assert policy.access_token_lifetime == 1234
        assert context.access_token_lifetime == 1234
        assert context.key.pk == key_b.pk and context.key.kid == key_b.kid
        switch_to(rows, tenant_a)
        assert selectors.issuer_policy(fresh=True).access_token_lifetime != 1234
        assert signing_context("RS256").key.kid != key_b.kid
    finally:
        with tenant_b.context():
            settings_b.access_token_lifetime = original
            settings_b.save()


def test_rowsql_in_a_transaction_locks_the_current_tenants_row(tenant_a, tenant_b, rows):
    """``get_by_pk(lock=True)``, ``insert`` and ``update_fields`` (refresh rotation, code
    exchange) name the schema too, inside ``atomic``."""
    from django.db import transaction

    from oauth import rowsql
    from oauth.models import Client, Token
    from oauth.services.tokens import token_issue

    b_client = make_client(tenant_b)
    with tenant_b.context():
        client = Client.objects.get(client_id=b_client.client_id)
        row = token_issue(client=client, token={"access_token": "qualified-4", "expires_in": 60})
    leave_session_on(rows, tenant_a)
    switch_to(rows, tenant_b)
    with transaction.atomic():
        locked = rowsql.get_by_pk(Token, row.pk, lock=True)
        locked.retired_at = timezone.now() + timedelta(seconds=1)
        rowsql.update_fields(locked, ("retired_at",))
    with tenant_b.context():
        assert Token.objects.get(pk=row.pk).retired_at is not None
    switch_to(rows, tenant_a)
    with pytest.raises(Token.DoesNotExist):
        rowsql.get_by_pk(Token, row.pk + 10_000_000)


def test_client_lookup_reads_the_current_tenant_without_a_set(tenant_a, tenant_b, rows):
    """``client_by_client_id`` (every client authentication; the cache's miss path) names
    the schema: a client_id of B is found at B with the session still on A's path, and is
    unknown at A; a disabled client is not returned."""
    from oauth import selectors
    from oauth.models import Client

    b_client = make_client(tenant_b)
    leave_session_on(rows, tenant_a)
    switch_to(rows, tenant_b)
    found = selectors.client_by_client_id(client_id=b_client.client_id)
    assert tenant_a.schema in session_search_path()
    assert found is not None and found.pk == b_client.pk and found.scopes == ["api", "read"]
    switch_to(rows, tenant_a)
    assert selectors.client_by_client_id(client_id=b_client.client_id) is None
    with tenant_b.context():
        Client.objects.filter(pk=b_client.pk).update(disabled=True)
    switch_to(rows, tenant_b)
    assert selectors.client_by_client_id(client_id=b_client.client_id) is None


def test_rowsql_reads_by_unique_fields_only():
    """``rowsql.get_by`` reads one row, so a field that may match several is refused before
    any statement is built (the ORM's ``get`` would raise MultipleObjectsReturned)."""
    from oauth import rowsql
    from oauth.models import Client

    with pytest.raises(ValueError, match="not unique"):
        rowsql.get_by(Client, "name", "Test client")


def test_rowsql_numbers_its_placeholders_and_refuses_any_other_percent():
    """``rowsql.numbered`` gives PostgreSQL's ``$n`` for each ``%s`` in order, and refuses a
    statement with any other ``%`` rather than guess what it means."""
    from oauth import rowsql

    assert rowsql.numbered("a = %s AND b = %s OR %s::text IS NULL") == (
        "a = $1 AND b = $2 OR $3::text IS NULL"
    )
    assert rowsql.numbered("SELECT 1") == "SELECT 1"
    for bad in ("name LIKE 'a%' AND id = %s", "id = %(id)s", "100%% = %s"):
        with pytest.raises(ValueError, match="placeholders"):
            rowsql.numbered(bad)


def test_session_mode_sends_numbered_statements_psycopg_does_not_convert(tenant_a, tenant_b, rows):
    """In session mode (server-side binding) the qualified cursor is psycopg's RawCursor:
    the token INSERT goes out with ``$n`` placeholders numbered once per statement, the
    same text for the two tenants but for the schema, with its values out of the statement
    text that the debug log keeps; and it still lands in the current tenant only."""
    import psycopg
    from django.test.utils import CaptureQueriesContext

    from kernel import credentials
    from oauth import rowsql
    from oauth.models import Client, Token
    from oauth.services.tokens import token_issue

    assert connection.native_placeholders is True
    sent = {}
    for tenant, value in ((tenant_a, "numbered-a"), (tenant_b, "numbered-b")):
        made = make_client(tenant)
        switch_to(rows, tenant)
        client = Client.objects.get(client_id=made.client_id)
        with rowsql.qualified_cursor() as cursor:
            assert type(cursor.cursor) is psycopg.RawCursor
        with CaptureQueriesContext(connection) as queries:
            row = token_issue(client=client, token={"access_token": value, "expires_in": 60})
        (insert,) = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
        assert "%s" not in insert and "$1" in insert and f'"{tenant.schema}".' in insert
        assert credentials.digest(value) not in insert
        sent[tenant.schema] = insert.replace(f'"{tenant.schema}".', "<schema>.")
        with tenant.context():
            assert Token.objects.get(pk=row.pk).client_id == made.pk
    assert sent[tenant_a.schema] == sent[tenant_b.schema]
