"""Races on the live server (2 gunicorn workers x 4 threads), data committed: concurrent
polls of one pending device code (one is in time, the others slow_down: RFC 8628 §3.5)
and of one approved device code (one gets tokens, the others invalid_grant, and the
winner's tokens stay good)."""

from __future__ import annotations

import pytest
import requests
from django.utils import timezone

from oauth.grant_types import DEVICE_CODE
from tests.oauth.device.helpers import make_device_client
from tests.oauth.test_concurrency import together
from tests.support.factories import make_client, make_user
from tests.support.secrets import remember_secret

pytestmark = [pytest.mark.live, pytest.mark.slow]

POLLERS = 6


def _device_code(commit, tenant, client, *, approved_for=None) -> str:
    from oauth.device import services
    from oauth.models import Client

    with commit(tenant):
        issued = services.device_authorization_create(
            client=Client.objects.get(pk=client.pk), scope="api"
        )
        if approved_for is not None:
            services.device_authorization_decide(
                authorization_id=issued.row.pk,
                user=approved_for,
                approve=True,
                auth_time=timezone.now(),
                amr=["pwd"],
            )
    remember_secret(issued.user_code)
    return remember_secret(issued.device_code)


def _poll(server, tenant, client, device_code):
    return lambda: requests.post(
        server.url(tenant.host, "/oauth/token"),
        data={"grant_type": DEVICE_CODE, "device_code": device_code, "client_id": client.client_id},
        timeout=30,
    )


def test_concurrent_polls_of_a_pending_code_let_one_through(gatehouse_server, tenant_a, commit):
    with commit(tenant_a):
        client = make_device_client(tenant_a, name="Race TV")
    device_code = _device_code(commit, tenant_a, client)
    answers = together(POLLERS, _poll(gatehouse_server, tenant_a, client, device_code))
    errors = sorted(answer.json()["error"] for answer in answers)
    assert all(answer.status_code == 400 for answer in answers)
    assert errors == ["authorization_pending"] + ["slow_down"] * (POLLERS - 1), errors


def test_concurrent_polls_of_an_approved_code_issue_once(gatehouse_server, tenant_a, commit):
    with commit(tenant_a):
        client = make_device_client(tenant_a, name="Race TV 2")
        user = make_user(tenant_a)
        resource_server = make_client(tenant_a, name="Race API", can_introspect=True)
    device_code = _device_code(commit, tenant_a, client, approved_for=user)
    answers = together(POLLERS, _poll(gatehouse_server, tenant_a, client, device_code))
    winners = [answer for answer in answers if answer.status_code == 200]
    assert len(winners) == 1, [answer.text for answer in answers]
    tokens = winners[0].json()
    remember_secret(tokens["access_token"])
    remember_secret(tokens["refresh_token"])
    losers = [answer.json()["error"] for answer in answers if answer.status_code != 200]
    assert losers == ["invalid_grant"] * (POLLERS - 1)
    # The lost races revoked nothing: the winner's access token is active.
    introspection = requests.post(
        gatehouse_server.url(tenant_a.host, "/oauth/introspect"),
        data={"token": tokens["access_token"]},
        auth=resource_server.auth(),
        timeout=10,
    )
    assert introspection.json()["active"] is True, introspection.text
