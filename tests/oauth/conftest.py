"""OAuth test fixtures: a clean issuer-policy cache around every test, and a tenant of its
own for signing-key rotations.

Rotations that a live server must see are committed, so they happen on a tenant these tests
own ("oidc-rotation"), never on the shared ``tenant_a``/``tenant_b``; its keys are reset
before each test that uses it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from tests.support.tenants import TenantInfo, provision


@pytest.fixture(autouse=True)
def _fresh_issuer_policy():
    """Tests roll their IssuerSettings changes back; the process cache must forget them."""
    from oauth.selectors import clear_issuer_policy_cache

    clear_issuer_policy_cache()
    yield
    clear_issuer_policy_cache()


@pytest.fixture(scope="session")
def rotation_tenant_session(django_db_setup, django_db_blocker):
    from tenants.hosts import clear_tenant_host_cache
    from tenants.models import Tenant

    with django_db_blocker.unblock():
        info = provision("oidc-rotation", "OIDC Rotation")
        connection.set_schema_to_public()
    yield info
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        Tenant.objects.get(slug=info.slug).delete(force_drop=True)
        clear_tenant_host_cache()


@pytest.fixture
def rotation_tenant(rotation_tenant_session, commit) -> TenantInfo:
    """The tenant of our own, with freshly provisioned keys and default issuer settings."""
    from oauth.models import IssuerSettings, SigningKey
    from oauth.signing.services import provision_signing_keys

    with commit(rotation_tenant_session):
        SigningKey.objects.all().delete()
        IssuerSettings.objects.all().delete()
        provision_signing_keys()
    return rotation_tenant_session


@pytest.fixture
def publish_next_keys_earlier(commit):
    """Pretend the tenant's next keys were published ``seconds`` ago (time has passed), after
    its JWKS was first served (so the jwks_max_age rule applies to them)."""
    from django.utils import timezone

    from oauth.models import IssuerSettings, SigningKey

    def _backdate(tenant: TenantInfo, seconds: int) -> None:
        earlier = timezone.now() - timedelta(seconds=seconds)
        with commit(tenant):
            IssuerSettings.load()
            IssuerSettings.objects.update(jwks_first_served_at=earlier - timedelta(seconds=1))
            SigningKey.objects.filter(state=SigningKey.State.NEXT).update(published_at=earlier)

    return _backdate
