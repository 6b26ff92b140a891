"""Fixtures every test may use: two tenants, https clients, a live server, the log guard."""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from tests.support import secrets
from tests.support.live import LiveServer, map_test_hosts
from tests.support.ratelimits import clear_oauth_counters
from tests.support.tenants import TenantInfo, https_client, provision


def pytest_configure(config):
    from django.conf import settings

    map_test_hosts(settings.GATEHOUSE_BASE_DOMAIN)


@pytest.fixture(scope="session", autouse=True)
def _fresh_cache():
    """The test cache lives in Redis and outlives a run: start every session empty."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """No test inherits another's OAuth rate-limit counts (tests.support.ratelimits)."""
    clear_oauth_counters()


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_test_environment,
    django_db_blocker,
    django_db_keepdb,
    django_db_createdb,
    django_db_modify_db_settings,
):
    """pytest-django's, but always for ``default``: its own sets up only the aliases that
    collected ``django_db`` tests name, so a session of live-server tests alone (committed
    data, no test transaction) would otherwise run against the real database name."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(
            verbosity=0,
            interactive=False,
            keepdb=django_db_keepdb and not django_db_createdb,
            aliases={"default"},
        )
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            teardown_databases(config, verbosity=0)


@pytest.fixture(scope="session")
def two_tenants(django_db_setup, django_db_blocker) -> tuple[TenantInfo, TenantInfo]:
    with django_db_blocker.unblock():
        alpha = provision("alpha", "Alpha Corp")
        bravo = provision("bravo", "Bravo Ltd")
        connection.set_schema_to_public()
    return alpha, bravo


@pytest.fixture
def tenant_a(two_tenants) -> TenantInfo:
    return two_tenants[0]


@pytest.fixture
def tenant_b(two_tenants) -> TenantInfo:
    return two_tenants[1]


@pytest.fixture(params=["a", "b"])
def tenant(request, tenant_a, tenant_b) -> TenantInfo:
    """Each tenant in turn: a test taking ``tenant`` runs once per tenant."""
    return tenant_a if request.param == "a" else tenant_b


@pytest.fixture
def public_client():
    from django.conf import settings

    return https_client(settings.GATEHOUSE_BASE_DOMAIN)


@pytest.fixture(autouse=True)
def _back_to_public_schema():
    """A request leaves the connection on its tenant's schema; start every test in public."""
    yield
    connection.set_schema_to_public()


@pytest.fixture(scope="session")
def live_server_db_name(django_db_setup) -> str:
    from django.conf import settings

    return settings.DATABASES["default"]["NAME"]


@pytest.fixture(scope="session")
def gatehouse_server(two_tenants, live_server_db_name, tmp_path_factory):
    """gunicorn serving the test database over a real socket (http, tenants by Host)."""
    from django.conf import settings

    map_test_hosts(settings.GATEHOUSE_BASE_DOMAIN)
    server = LiveServer(live_server_db_name, tmp_path_factory.mktemp("live"))
    yield server
    server.stop()


@pytest.fixture
def commit(django_db_blocker):
    """Run ORM writes outside the test transaction, so a live server sees them."""
    from contextlib import contextmanager

    @contextmanager
    def _commit(tenant: TenantInfo | None = None):
        from django_tenants.utils import schema_context

        with django_db_blocker.unblock():
            if tenant is None:
                yield
            else:
                with schema_context(tenant.schema):
                    yield
            connection.set_schema_to_public()

    return _commit


@pytest.fixture(autouse=True)
def no_secrets_in_logs(request):
    """Fail any test whose logs contain a password, secret or token it handled."""
    handler = secrets.CapturingHandler()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    text = "\n".join(handler.texts) + "\n" + secrets.new_log_file_text()
    leaked = secrets.leaks_in(text)
    secrets.forget_test_secrets()
    if leaked and not request.node.get_closest_marker("leaks_secrets_on_purpose"):
        pytest.fail(f"a secret the test handled appeared in the logs: {leaked[0][:6]}...")
