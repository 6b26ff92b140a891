"""Device authorizations (RFC 8628) are a purge kind: past ``purge_after`` they go, in their
own schema only; a fresh one stays, and so does the grant family a kept one points at."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from oauth.grant_types import DEVICE_CODE
from oauth.models import DeviceAuthorization, GrantFamily
from tests.support.factories import make_client

pytestmark = pytest.mark.django_db


def _device_authorization(tenant, *, purge_in: timedelta, with_family: bool = False) -> int:
    from oauth.device.services import device_authorization_create

    client = make_client(tenant, name="TV", auth_method="none", grant_types=[DEVICE_CODE])
    with tenant.context():
        issued = device_authorization_create(
            client=DeviceAuthorization._meta.get_field("client").related_model.objects.get(
                pk=client.pk
            ),
            scope="api",
        )
        row = issued.row
        row.purge_after = timezone.now() + purge_in
        if with_family:
            row.family = GrantFamily.objects.create(
                client_id=client.pk, scope="api", purge_after=timezone.now() - timedelta(days=1)
            )
        row.save()
    return row.pk


def test_the_kind_is_registered():
    from workers.purge import kind_for_model

    kind = kind_for_model("oauth.DeviceAuthorization")
    assert kind is not None and kind.field == "purge_after"


def test_expired_rows_go_fresh_ones_stay_and_other_tenants_are_untouched(tenant_a, tenant_b):
    from workers.purge import count_schema, purge_schema

    gone = _device_authorization(tenant_a, purge_in=timedelta(seconds=-1))
    kept = _device_authorization(tenant_a, purge_in=timedelta(minutes=10), with_family=True)
    other = _device_authorization(tenant_b, purge_in=timedelta(seconds=-1))
    with tenant_a.context():
        assert count_schema(schema=tenant_a.schema)["device_authorizations"] >= 1
        totals = purge_schema(schema=tenant_a.schema)
        assert totals["device_authorizations"] >= 1
        assert not DeviceAuthorization.objects.filter(pk=gone).exists()
        row = DeviceAuthorization.objects.get(pk=kept)
        # The family is past its purge_after, but a kept device authorization points at it.
        assert GrantFamily.objects.filter(pk=row.family_id).exists()
    with tenant_b.context():
        assert DeviceAuthorization.objects.filter(pk=other).exists()
