"""The purge service in-process: what goes, what stays, batches, the registry, concurrency."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.core import checks
from django.db import connection, connections
from django.utils import timezone

from tests.workers import seeding


@pytest.mark.django_db
def test_purge_removes_only_rows_past_retention_and_families_without_tokens(tenant_a):
    from workers.purge import purge_schema

    with tenant_a.context():
        seeded = seeding.seed(tenant_a, bulk_tokens=12)
        totals = purge_schema(schema=tenant_a.schema)
        assert seeding.present(seeded, "purgeable") == dict.fromkeys(seeded.purgeable, 0)
        assert seeding.present(seeded, "needed") == seeding.expected(seeded, "needed")
    for kind, rows in seeding.expected(seeded, "purgeable").items():
        assert totals[kind] >= rows


@pytest.mark.django_db
def test_purge_is_scoped_to_its_schema(tenant_a, tenant_b):
    from workers.purge import purge_schema

    with tenant_a.context():
        seeded_a = seeding.seed(tenant_a)
    with tenant_b.context():
        seeded_b = seeding.seed(tenant_b)
    # The connection is on alpha's search_path; the purge names bravo's tables itself.
    with tenant_a.context():
        purge_schema(schema=tenant_b.schema)
        assert seeding.present(seeded_a, "purgeable") == seeding.expected(seeded_a, "purgeable")
    with tenant_b.context():
        assert seeding.present(seeded_b, "purgeable") == dict.fromkeys(seeded_b.purgeable, 0)


@pytest.mark.django_db
def test_one_step_deletes_at_most_one_batch_per_kind(tenant_a, monkeypatch):
    from workers import purge

    small = tuple(
        purge.PurgeKind(k.name, k.model, k.field, 4, k.keep_while_referenced_by)
        for k in purge.PURGE_KINDS
    )
    monkeypatch.setattr(purge, "PURGE_KINDS", small)
    with tenant_a.context():
        seeded = seeding.seed(tenant_a, bulk_tokens=9)
        first = purge.purge_schema_step(schema=tenant_a.schema)
        assert first.deleted["tokens"] == 4 and first.work_remains
        steps = 2
        while purge.purge_schema_step(schema=tenant_a.schema).work_remains:
            steps += 1
        assert steps == 3  # 11 tokens in batches of 4: 4, 4, 3
        assert seeding.present(seeded, "purgeable")["tokens"] == 0


@pytest.mark.django_db
def test_user_session_index_rows_go_once_their_session_is_gone(tenant_a, tenant_b):
    """The per-user session index (what the console and the account page list) loses a row
    once its session is gone and the grace hour has passed; never a row whose session still
    exists, never a fresh one, never another schema's."""
    from django.contrib.sessions.models import Session

    from kernel.accounts.models import UserSession
    from tests.support.factories import make_user
    from workers.purge import purge_schema

    old = timezone.now() - timedelta(hours=2)
    future = timezone.now() + timedelta(days=1)
    for tenant in (tenant_a, tenant_b):
        user = make_user(tenant)
        with tenant.context():
            Session.objects.create(
                session_key=f"live-{tenant.slug}", session_data="", expire_date=future
            )
            for key, created in (("live", old), ("gone", old), ("fresh-gone", timezone.now())):
                UserSession.objects.create(
                    session_key=f"{key}-{tenant.slug}", user=user, created_at=created
                )
    assert purge_schema(schema=tenant_a.schema)["user_sessions"] == 1
    with tenant_a.context():
        left = set(UserSession.objects.values_list("session_key", flat=True))
    assert {"live-alpha", "fresh-gone-alpha"} <= left and "gone-alpha" not in left
    with tenant_b.context():
        assert UserSession.objects.filter(session_key="gone-bravo").exists()


@pytest.mark.django_db
def test_public_schema_purges_only_its_sessions_and_audit_events():
    from django.contrib.sessions.models import Session

    from workers.purge import kinds_for_schema, purge_schema

    assert [k.name for k in kinds_for_schema("public")] == [
        "sessions",
        "user_sessions",
        "audit_events",
    ]
    connection.set_schema_to_public()
    past = timezone.now() - timedelta(days=1)
    Session.objects.create(session_key="wk-public-expired", session_data="", expire_date=past)
    assert purge_schema(schema="public")["sessions"] == 1
    assert not Session.objects.filter(session_key="wk-public-expired").exists()


@pytest.mark.django_db
def test_registry_check_flags_an_undeclared_reference(monkeypatch):
    from workers import checks as worker_checks
    from workers import purge

    assert worker_checks.check_purge_registry() == []
    undeclared = tuple(
        purge.PurgeKind(k.name, k.model, k.field, k.batch_size) for k in purge.PURGE_KINDS
    )
    monkeypatch.setattr(worker_checks, "PURGE_KINDS", undeclared)
    errors = worker_checks.check_purge_registry()
    assert {e.id for e in errors} == {"workers.E001"}
    assert any("oauth.Token.family" in e.msg for e in errors)
    assert all(isinstance(e, checks.Error) for e in errors)


def test_concurrent_purges_of_one_schema_delete_each_row_once(tenant_a, commit, monkeypatch):
    """Two purges racing on one tenant: SKIP LOCKED splits the rows, no errors, no waits."""
    from workers import purge

    smaller = tuple(
        purge.PurgeKind(k.name, k.model, k.field, 500, k.keep_while_referenced_by)
        for k in purge.PURGE_KINDS
    )
    monkeypatch.setattr(purge, "PURGE_KINDS", smaller)
    with commit(tenant_a):
        seeded = seeding.seed(tenant_a, bulk_tokens=6_000)
    try:
        with commit():
            expected = sum(purge.count_schema(schema=tenant_a.schema).values())
        results, errors = [], []
        start = threading.Barrier(2)

        def run():
            try:
                start.wait()
                results.append(purge.purge_schema(schema=tenant_a.schema))
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                connections.close_all()

        with commit():
            threads = [threading.Thread(target=run) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        assert errors == []
        assert sum(sum(r.values()) for r in results) == expected
        with commit(tenant_a):
            assert seeding.present(seeded, "purgeable") == dict.fromkeys(seeded.purgeable, 0)
            assert seeding.present(seeded, "needed") == seeding.expected(seeded, "needed")
    finally:
        with commit(tenant_a):
            seeding.cleanup(seeded)


@pytest.mark.django_db
def test_a_purge_rests_only_while_other_sessions_use_the_database(live_server_db_name, settings):
    import psycopg
    from django.conf import settings as django_settings

    from workers import purge

    settings.GATEHOUSE = {**settings.GATEHOUSE, "PURGE_BUSY_ROWS_PER_SECOND": 10_000}
    assert purge.yield_to_foreground(500, 0.01) == 0.0  # nobody else here: full speed
    db = django_settings.DATABASES["default"]
    dsn = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} " + (
        f"dbname={live_server_db_name}"
    )
    with psycopg.connect(dsn, autocommit=True) as other:
        busy = threading.Thread(target=lambda: other.execute("SELECT pg_sleep(0.6)"))
        busy.start()
        try:
            deadline = time.monotonic() + 5
            while not purge.foreground_sessions() and time.monotonic() < deadline:
                time.sleep(0.02)
            started = time.monotonic()
            # 500 rows at 10,000 rows/s is 0.05 s; the step itself took 0.01 s of it.
            assert purge.yield_to_foreground(500, 0.01) == pytest.approx(0.04)
            assert time.monotonic() - started >= 0.04
            assert purge.yield_to_foreground(100, 0.05) == 0.0  # already slower than the bound
            settings.GATEHOUSE = {**settings.GATEHOUSE, "PURGE_BUSY_ROWS_PER_SECOND": 0}
            assert purge.yield_to_foreground(500, 0.01) == 0.0  # operators can turn it off
        finally:
            busy.join()
