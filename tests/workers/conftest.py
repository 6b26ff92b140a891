"""A real Celery worker (and, where needed, gunicorn and a private Redis) for worker tests.

The worker is ``celery -A workers worker`` in its own process group, on the test database
and the test run's Redis database (REDIS_URL), logging to a file the log guard watches.
"""

from __future__ import annotations

import pytest

from tests.support.celery import (
    CeleryWorker,
    make_worker_factory,
)


@pytest.fixture
def worker_factory(two_tenants, live_server_db_name, tmp_path_factory):
    """Start workers (or beat) on demand, e.g. to kill one; all are stopped at the end."""
    yield from make_worker_factory(live_server_db_name, tmp_path_factory.mktemp("celery"))


@pytest.fixture(scope="module")
def celery_worker(two_tenants, live_server_db_name, tmp_path_factory) -> CeleryWorker:
    """One worker shared by a module's tests (starting one takes a few seconds)."""
    factory = make_worker_factory(live_server_db_name, tmp_path_factory.mktemp("celery"))
    yield next(factory)()
    next(factory, None)


@pytest.fixture
def seeded_tenants(two_tenants, commit):
    """Seed both tenants (the caller passes bulk token counts); clean up afterwards."""
    from tests.workers import seeding

    made = []

    def _seed(bulk: tuple[int, int] = (0, 0)):
        for tenant, count in zip(two_tenants, bulk, strict=True):
            with commit(tenant):
                made.append(seeding.seed(tenant, bulk_tokens=count))
        return list(made)

    yield _seed
    for seeded in made:
        with commit(seeded.tenant):
            seeding.cleanup(seeded)
