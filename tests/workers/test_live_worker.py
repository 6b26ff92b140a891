"""Through a real Celery worker and the real Redis: purge fan-out and re-queue, concurrent
runs, a worker SIGKILLed mid-batch, the backlog measurement, key rotation on schedule."""

from __future__ import annotations

import json

import psycopg
import pytest
from django.conf import settings

from tests.support.celery import (
    CeleryBeat,
    assert_worker_log_clean,
    broker,
    queue_idle,
    wait_until,
)
from tests.workers import seeding

pytestmark = [pytest.mark.live, pytest.mark.slow]


def _counts(commit, seeded_list, which):
    result = {}
    for seeded in seeded_list:
        with commit(seeded.tenant):
            result[seeded.tenant.slug] = seeding.present(seeded, which)
    return result


def _all_purged(commit, seeded_list) -> bool:
    counts = _counts(commit, seeded_list, "purgeable")
    return all(n == 0 for per_kind in counts.values() for n in per_kind.values())


def _assert_needed_intact(commit, seeded_list):
    for seeded in seeded_list:
        with commit(seeded.tenant):
            assert seeding.present(seeded, "needed") == seeding.expected(seeded, "needed")


def test_fan_out_purges_every_tenant_and_keeps_what_is_needed(
    celery_worker, seeded_tenants, commit
):
    from workers.reporting import PURGE_BACKLOG_KEY
    from workers.tasks import purge_all_tenants, record_purge_backlog

    # More than one batch in alpha: the per-tenant task must re-queue itself.
    seeded = seeded_tenants(bulk=(11_000, 300))
    since = celery_worker.log_size()

    record_purge_backlog.delay()
    document = wait_until(lambda: broker().get(PURGE_BACKLOG_KEY), message="backlog never measured")
    backlog = {(t, k): n for t, k, n in json.loads(document)["rows"]}
    assert backlog[("alpha", "tokens")] >= 11_002
    assert backlog[("bravo", "sessions")] >= 1

    purge_all_tenants.delay()
    wait_until(lambda: _all_purged(commit, seeded), message="purgeable rows left")
    _assert_needed_intact(commit, seeded)
    wait_until(queue_idle, message="tasks still queued")
    # Alpha's 11,002 tokens took two turns of 10,000 (the task re-queued itself).
    assert celery_worker.log(since).count(" rows in alpha: tokens=") == 2
    assert_worker_log_clean(celery_worker, since)


def test_two_concurrent_runs_share_the_work_without_errors(celery_worker, seeded_tenants, commit):
    from workers.purge import count_schema, purge_targets
    from workers.reporting import PURGED_ROWS_KEY
    from workers.tasks import purge_all_tenants

    seeded = seeded_tenants(bulk=(12_000, 7_000))
    since = celery_worker.log_size()
    with commit():
        from tenants.selectors import active_tenants

        expected_total = sum(
            sum(count_schema(schema=schema).values())
            for _, schema in purge_targets(active_tenants())
        )
    assert expected_total >= 19_000 + 2 * 5

    def purged_so_far() -> int:
        return sum(int(v) for v in broker().hgetall(PURGED_ROWS_KEY).values())

    before = purged_so_far()
    purge_all_tenants.delay()
    purge_all_tenants.delay()
    wait_until(lambda: _all_purged(commit, seeded), message="purgeable rows left")
    wait_until(queue_idle, message="tasks still queued")
    _assert_needed_intact(commit, seeded)
    # Every row deleted exactly once: two chains per tenant, no double counting, no errors.
    assert purged_so_far() - before == expected_total
    assert_worker_log_clean(celery_worker, since)


GATE_LOCK = 7_346_001


def test_worker_sigkilled_mid_batch_loses_nothing_and_next_run_finishes(
    worker_factory, seeded_tenants, commit, tenant_a
):
    """The 1000th row of alpha's first token batch waits on an advisory lock the test holds:
    the worker is inside its DELETE, rows already deleted but not committed, when it dies."""
    from workers.tasks import purge_all_tenants

    seeded = seeded_tenants(bulk=(8_000, 2_000))
    alpha, bravo = seeded
    schema = tenant_a.schema
    db = settings.DATABASES["default"]
    dsn = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} " + (
        f"dbname={db['NAME']}"
    )
    with psycopg.connect(dsn, autocommit=True) as gate:
        gate.execute(
            f"""
            CREATE SEQUENCE "{schema}".wk_gate_seq;
            CREATE FUNCTION "{schema}".wk_gate() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF nextval('"{schema}".wk_gate_seq') = 1000 THEN
                PERFORM pg_advisory_xact_lock({GATE_LOCK});
              END IF;
              RETURN OLD;
            END $$;
            CREATE TRIGGER wk_gate BEFORE DELETE ON "{schema}".oauth_token
              FOR EACH ROW EXECUTE FUNCTION "{schema}".wk_gate();
            """
        )
        try:
            gate.execute("SELECT pg_advisory_lock(%s)", [GATE_LOCK])
            worker = worker_factory()
            purge_all_tenants.delay()

            def blocked_backend():
                row = gate.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event = 'advisory' "
                    "AND query LIKE %s",
                    [f'DELETE FROM "{schema}"."oauth_token"%'],
                ).fetchone()
                return row and row[0]

            backend = wait_until(blocked_backend, message="purge never reached the gate")
            # Alpha's stalled batch does not hold up the other tenant (concurrency 2).
            wait_until(
                lambda: _all_purged(commit, [bravo]), message="bravo starved by alpha's batch"
            )
            worker.kill()
            gate.execute("SELECT pg_advisory_unlock(%s)", [GATE_LOCK])
            # The orphaned backend finishes its statement, finds its client gone and rolls
            # back: the half-done batch deleted nothing.
            wait_until(
                lambda: (
                    not gate.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend]
                    ).fetchone()
                ),
                message="orphaned purge backend still running",
            )
            with commit(tenant_a):
                assert seeding.present(alpha, "purgeable")["tokens"] == 8_000 + 2
        finally:
            gate.execute("SELECT pg_advisory_unlock_all()")
            gate.execute(
                f'DROP TRIGGER IF EXISTS wk_gate ON "{schema}".oauth_token;'
                f'DROP FUNCTION IF EXISTS "{schema}".wk_gate();'
                f'DROP SEQUENCE IF EXISTS "{schema}".wk_gate_seq;'
            )

    # The killed task's message waits, unacknowledged, for Redis' visibility timeout; the
    # next scheduled run does not wait for it.
    next_worker = worker_factory()
    purge_all_tenants.delay()
    wait_until(lambda: _all_purged(commit, seeded), message="next run left purgeable rows")
    _assert_needed_intact(commit, seeded)
    assert_worker_log_clean(next_worker)


@pytest.fixture
def rotation_tenant(two_tenants, commit):
    """A tenant of this test's own: rotating keys of the shared tenants would surprise others."""
    from tenants.hosts import clear_tenant_host_cache
    from tenants.models import Tenant
    from tests.support.tenants import provision

    with commit():
        info = provision("wk-rotation", "Workers Rotation")
    yield info
    with commit():
        Tenant.objects.get(slug=info.slug).delete(force_drop=True)
        clear_tenant_host_cache()


def test_key_rotation_fan_out_rotates_only_tenants_that_are_due(
    celery_worker, rotation_tenant, tenant_a, commit
):
    from datetime import timedelta

    from django.utils import timezone

    from oauth.models import SigningKey
    from workers.tasks import rotate_all_tenants_signing_keys

    def current_kids(tenant) -> set[str]:
        with commit(tenant):
            return set(
                SigningKey.objects.filter(state=SigningKey.State.CURRENT).values_list(
                    "kid", flat=True
                )
            )

    long_ago = timezone.now() - timedelta(days=400)
    with commit(rotation_tenant):
        SigningKey.objects.filter(state=SigningKey.State.CURRENT).update(activated_at=long_ago)
        SigningKey.objects.filter(state=SigningKey.State.NEXT).update(published_at=long_ago)
    due_before, alpha_before = current_kids(rotation_tenant), current_kids(tenant_a)
    assert due_before and alpha_before
    since = celery_worker.log_size()

    rotate_all_tenants_signing_keys.delay()
    wait_until(
        lambda: current_kids(rotation_tenant).isdisjoint(due_before),
        message="due tenant's keys were not rotated",
    )
    wait_until(queue_idle, message="tasks still queued")
    assert current_kids(tenant_a) == alpha_before  # not due: left alone
    assert celery_worker.log(since).count("rotate_signing_keys_if_due[") >= 2 * 3
    assert_worker_log_clean(celery_worker, since)


def test_beat_schedules_the_purge_that_workers_run(worker_factory, seeded_tenants, commit):
    """``celery -A workers beat`` and ``worker`` as the run command starts them: beat fires
    the fan-out on its interval (2 s here) and the expired rows go, in every tenant."""
    seeded = seeded_tenants()
    live = {"DJANGO_SETTINGS_MODULE": "tests.workers.live_settings"}
    worker = worker_factory(**live)
    beat = worker_factory(CeleryBeat, TEST_PURGE_INTERVAL_SECONDS="2", **live)
    wait_until(lambda: _all_purged(commit, seeded), timeout=30, message="beat never purged")
    _assert_needed_intact(commit, seeded)
    assert "workers.tasks.purge_all_tenants" in beat.log()
    assert_worker_log_clean(worker)
