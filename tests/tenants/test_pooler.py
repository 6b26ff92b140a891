"""Behind a real PgBouncer in transaction mode (pool size 2), four tenants at once.

gunicorn (4 workers x 4 threads, persistent connections) runs with
``DATABASE_POOL_MODE=transaction`` through PgBouncer in front of the test database. Mixed
traffic for four tenants at once (client_credentials, introspection, revocation, userinfo,
refresh, discovery, JWKS) must get exactly the answers each tenant alone would give, every
token row must be in its own tenant's schema and point at that tenant's client, and no server
connection may keep a tenant's search_path afterwards.

The control runs the same traffic with ``DATABASE_POOL_MODE=session`` (django-tenants'
session-level SET) through the same kind of pooler and must see tenants mixed up: proof that
the checks above can fail.

``GATEHOUSE_POOLER_TEST_REQUESTS`` sets the requests per run (default 500, ~10-30 s here).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest
import requests
from django.db import connection

from tests.support.live import REPO, service_env
from tests.support.secrets import remember_secret
from tests.support.tenants import provision
from tests.tenants.pooler import (
    DEFAULT_SEARCH_PATH,
    PgBouncer,
    PooledServer,
    Traffic,
    expected_rows,
    start_chains,
    tenant_world,
    token_baseline,
    token_rows_since,
)

# No django_db: rows are committed so that the servers see them.
pytestmark = [pytest.mark.live, pytest.mark.slow]

REQUESTS = int(os.environ.get("GATEHOUSE_POOLER_TEST_REQUESTS", "500"))
SLUGS = ("pooler-a", "pooler-b", "pooler-c", "pooler-d")
CHAINS_PER_TENANT = 3


@pytest.fixture(scope="module")
def pooler_tenants(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        tenants = [provision(slug, f"Pooler {slug[-1].upper()}") for slug in SLUGS]
        connection.set_schema_to_public()
    return tenants


@pytest.fixture(scope="module")
def bouncer(live_server_db_name):
    pgbouncer = PgBouncer(live_server_db_name, pool_size=2)
    yield pgbouncer
    pgbouncer.stop()


@pytest.fixture(scope="module")
def pooled_server(bouncer, pooler_tenants, tmp_path_factory):
    server = PooledServer(
        tmp_path_factory.mktemp("pooled"), bouncer=bouncer, pool_mode="transaction"
    )
    yield server
    server.stop()


def worlds_and_baseline(tenants, chain_server, django_db_blocker):
    """Fresh clients, a user and refresh chains in each tenant (redeemed through
    ``chain_server``), and each schema's newest token id before the run."""
    with django_db_blocker.unblock():
        worlds = [tenant_world(t, extra_clients=i) for i, t in enumerate(tenants)]
        for world in worlds:
            start_chains(world, chain_server, CHAINS_PER_TENANT)
        connection.set_schema_to_public()
        return worlds, token_baseline(worlds)


@pytest.fixture(scope="module")
def transaction_run(pooled_server, pooler_tenants, django_db_blocker):
    worlds, baseline = worlds_and_baseline(pooler_tenants, pooled_server, django_db_blocker)
    outcome = Traffic(pooled_server, worlds).run(REQUESTS)
    print(f"\ntransaction mode behind PgBouncer: {outcome.summary()}")
    with django_db_blocker.unblock():
        rows = token_rows_since(worlds, baseline)
    return worlds, outcome, rows


def test_every_answer_is_the_tenants_own(transaction_run):
    _, outcome, _ = transaction_run
    assert outcome.requests >= REQUESTS
    assert outcome.wrong == [], f"{len(outcome.wrong)} wrong answers: {outcome.wrong[:10]}"
    assert set(outcome.statuses) == {200}, outcome.statuses


def test_every_token_row_is_in_its_own_tenants_schema(transaction_run):
    worlds, outcome, rows = transaction_run
    for world in worlds:
        slug = world.info.slug
        assert outcome.issued[slug] and outcome.refreshed[slug] and outcome.revoked[slug]
        assert rows[slug] == expected_rows(world, outcome), slug


def test_no_server_connection_keeps_a_tenant_search_path(transaction_run, bouncer):
    sessions = bouncer.server_sessions()
    assert len({s["pid"] for s in sessions}) == bouncer.pool_size
    for session in sessions:
        assert session["search_path"] == DEFAULT_SEARCH_PATH, session
        assert "search_path" not in session["session"], session


def test_provisioning_through_the_pooler_migrates_the_tenants_own_schema(
    bouncer, pooled_server, django_db_blocker
):
    """Migrations run through the pooler too (the chart's migration Job gets the same mode):
    the new schema gets its own django_migrations, and no server connection keeps a path."""
    slug = f"pooler-{secrets.token_hex(3)}"
    # "=": a random value may start with "-", which argparse would take for an option.
    password = remember_secret(secrets.token_urlsafe(16))
    result = subprocess.run(
        [sys.executable, "manage.py", "provision_tenant", "--slug", slug, "--name", slug,
         "--admin-email", f"admin@{slug}.test", f"--admin-password={password}", "--json"],
        cwd=REPO,
        env=service_env(bouncer.database, DATABASE_URL=bouncer.url,
                        DATABASE_POOL_MODE="transaction"),
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)["schema"]
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(DISTINCT app) FROM {connection.ops.quote_name(schema)}.django_migrations"
        )
        assert cursor.fetchone()[0] >= 5  # accounts, auth, contenttypes, sessions, oauth
    for session in bouncer.server_sessions():
        assert session["search_path"] == DEFAULT_SEARCH_PATH, session
    host = f"{slug}.{pooled_server.base_domain}"
    metadata = requests.get(
        pooled_server.url(host, "/.well-known/openid-configuration"), timeout=30
    )
    assert metadata.status_code == 200
    assert metadata.json()["issuer"] == pooled_server.issuer(host)


def test_control_session_mode_behind_a_transaction_pooler_mixes_tenants_up(
    pooled_server, pooler_tenants, live_server_db_name, django_db_blocker, tmp_path_factory
):
    """Today's behaviour (the README used to say "session pooling only") must fail here,
    or the tests above prove nothing."""
    worlds, baseline = worlds_and_baseline(pooler_tenants, pooled_server, django_db_blocker)
    control_bouncer = PgBouncer(live_server_db_name, pool_size=2)
    try:
        server = PooledServer(
            tmp_path_factory.mktemp("control"), bouncer=control_bouncer, pool_mode="session"
        )
        try:
            outcome = Traffic(server, worlds).run(REQUESTS)
        finally:
            server.stop()
        sessions = control_bouncer.server_sessions()
    finally:
        control_bouncer.stop()
    with django_db_blocker.unblock():
        rows = token_rows_since(worlds, baseline)
    misplaced = [w.info.slug for w in worlds if rows[w.info.slug] != expected_rows(w, outcome)]
    tenant_paths = [s["search_path"] for s in sessions if s["search_path"] != DEFAULT_SEARCH_PATH]
    print(
        f"\ncontrol, session mode behind PgBouncer: {outcome.summary()}; token rows wrong in "
        f"{misplaced}; server search_paths left: {tenant_paths}"
    )
    assert outcome.wrong or misplaced
