"""The limits' round trip overlapping the request (``ratelimits.admit(defer=True)``,
``kernel.ratelimit.tally_begin``): a refused request still runs no statement, the counts are
the script's own, a Redis that lost its scripts or went away changes nothing, and the
counters stay per tenant."""

import pytest
from django.core.cache import caches
from django.db import connection

from kernel.ratelimit import FixedWindow, reset_availability, tally, tally_begin
from oauth.models import IssuerSettings
from tests.support.factories import make_client, token_request
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

GRANT = {"grant_type": "client_credentials"}


def set_limits(tenant, **limits: int) -> None:
    with tenant.context():
        row = IssuerSettings.load()
        for name, value in limits.items():
            setattr(row, f"rate_limit_{name}", value)
        row.save()


class ExecutedStatements:
    """Statements on the tenant's tables that PostgreSQL ran (an execute wrapper outside the
    view's: a statement refused before it runs raises through it and is not counted)."""

    def __init__(self):
        self.sql: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "oauth_" in sql:
            self.sql.append(sql)
        return result


def test_a_refused_request_runs_no_statement(tenant_a):
    """Over the per-IP limit, a client never seen before (so not in the process's cache: its
    lookup would be a query) is refused before its lookup, and nothing is written."""
    set_limits(tenant_a, ip_requests=1)
    first, second = make_client(tenant_a), make_client(tenant_a)
    ok = token_request(tenant_a, GRANT, first, REMOTE_ADDR="10.9.0.1")
    assert ok.status_code == 200
    remember_secret(ok.json()["access_token"])
    executed = ExecutedStatements()
    with connection.execute_wrapper(executed):
        refused = token_request(tenant_a, GRANT, second, REMOTE_ADDR="10.9.0.1")
    assert refused.status_code == 429
    assert refused.json()["error"] == "temporarily_unavailable"
    assert executed.sql == []
    # The same client from another address is served: the refusal was the address's.
    other = token_request(tenant_a, GRANT, second, REMOTE_ADDR="10.9.0.2")
    assert other.status_code == 200
    remember_secret(other.json()["access_token"])


def test_an_answered_request_still_runs_its_statements(tenant_a):
    client = make_client(tenant_a)
    executed = ExecutedStatements()
    with connection.execute_wrapper(executed):
        response = token_request(tenant_a, GRANT, client)
    assert response.status_code == 200
    remember_secret(response.json()["access_token"])
    assert any(sql.startswith("INSERT INTO") for sql in executed.sql)


def test_deferred_counts_are_the_scripts_counts(tenant_a):
    window = FixedWindow("test:deferred", limit=10, window=60)
    with tenant_a.context():
        at = 1_000_000.0
        assert tally([(window, "k", 1)], at=at) == [1]  # loads the script
        pending = tally_begin([(window, "k", 1), (window, "j", 0)], at=at)
        assert pending.counts() == [2, 0]
        assert pending.counts() == [2, 0]  # read once, kept
        assert tally([(window, "k", 0)], at=at) == [2]


def test_deferred_counts_survive_a_script_flush(tenant_a):
    """Redis restarted or flushed its scripts: the deferred EVALSHA answers NOSCRIPT, and
    the count is made again through ``tally`` (which loads the script), exactly once."""
    window = FixedWindow("test:flushed", limit=10, window=60)
    with tenant_a.context():
        at = 2_000_000.0
        assert tally([(window, "k", 1)], at=at) == [1]
        caches["default"]._cache.get_client(write=True).script_flush()
        assert tally_begin([(window, "k", 1)], at=at).counts() == [2]
        assert tally([(window, "k", 0)], at=at) == [2]


def test_deferred_counts_stay_per_tenant(tenant_a, tenant_b):
    window = FixedWindow("test:walls", limit=10, window=60)
    at = 3_000_000.0
    with tenant_a.context():
        tally([(window, "same-key", 1)], at=at)
        assert tally_begin([(window, "same-key", 1)], at=at).counts() == [2]
    with tenant_b.context():
        assert tally_begin([(window, "same-key", 1)], at=at).counts() == [1]


def test_deferred_counts_fail_open_when_redis_is_gone(tenant_a, settings):
    from gatehouse import cache as cache_module
    from tests.support.live import free_port

    window = FixedWindow("test:gone", limit=1, window=60)
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        },
    }
    reset_availability()
    try:
        with tenant_a.context():
            assert tally_begin([(window, "k", 1)]).counts() == [0]
    finally:
        cache_module.FailOpenRedisCache._down_until = 0.0
        reset_availability()
