"""The back-channel logout outbox (OIDC Back-Channel Logout 1.0 §2.5-2.7; nothing is lost):
a sign-out while the broker is down still owes its logout token, and a real worker and beat's
sweep deliver it later; two attempts at one row at once POST once; a tenant's sweep sends
only its own rows, the most overdue first and a bounded batch; the purge drops finished rows
and gives up on old pending ones, audited; a system check keeps rows longer than their retries
take. The row written with the sign-out (and none with one that rolls back) is
test_backchannel's.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.oauth.backchannel.helpers import audited, bcl_client
from tests.support import jose
from tests.support.celery import (
    CeleryBeat,
    assert_worker_log_clean,
    broker_unreachable,
    make_worker_factory,
    wait_until,
)
from tests.support.factories import make_user, make_web_client, post_form
from tests.support.secrets import remember_secret

LIVE_SETTINGS = {"DJANGO_SETTINGS_MODULE": "tests.workers.live_settings"}


@pytest.fixture(scope="module")
def worker_env(rp_ca) -> dict[str, str]:
    """The worker (and beat) may reach loopback, trust the receiver's CA and sweep rows
    overdue by a second."""
    return {
        **LIVE_SETTINGS,
        "GATEHOUSE_DOCUMENT_FETCH_ALLOW_LOOPBACK": "true",
        "GATEHOUSE_DOCUMENT_FETCH_CA_BUNDLE": rp_ca[1],
        "GATEHOUSE_BACKCHANNEL_LOGOUT_SWEEP_GRACE_SECONDS": "1",
    }


@pytest.fixture(scope="module")
def celery(two_tenants, live_server_db_name, tmp_path_factory, worker_env):
    """Start a worker or beat; each is stopped at the end of the module."""
    factory = make_worker_factory(live_server_db_name, tmp_path_factory.mktemp("celery"))
    start = next(factory)
    yield lambda *kind, **env: start(*kind, **worker_env, **env)
    next(factory, None)


@pytest.fixture(scope="module")
def worker(celery):
    return celery()


@pytest.fixture
def in_process_fetch(settings, rp_ca):
    """This process's fetcher (the in-process attempts) may reach the loopback receiver."""
    settings.GATEHOUSE = {
        **settings.GATEHOUSE,
        "DOCUMENT_FETCH": {
            **settings.GATEHOUSE.get("DOCUMENT_FETCH", {}),
            "ALLOW_LOOPBACK": True,
            "CA_BUNDLE": rp_ca[1],
        },
    }


def _rows(commit, tenant, **filters) -> list[dict]:
    from oauth.models import BackchannelLogoutDelivery

    with commit(tenant):
        return list(
            BackchannelLogoutDelivery.objects.filter(**filters)
            .order_by("pk")
            .values("pk", "state", "attempts", "sub", "sid", "purge_after", "updated_at")
        )


def _owe(commit, tenant, client, *, pk: int | None = None, overdue: bool = False) -> int:
    """A pending outbox row for ``client`` (due now, or an hour overdue); its pk."""
    from oauth.models import BackchannelLogoutDelivery

    now = timezone.now()
    with commit(tenant):
        row = BackchannelLogoutDelivery.objects.create(
            pk=pk,
            client_id=client.pk,
            sub=f"user-{client.client_id[:8]}",
            sid=f"sid-{client.client_id[:8]}",
            issuer=tenant.issuer,
            next_attempt_at=now - timedelta(hours=1) if overdue else now,
            purge_after=now + timedelta(days=1),
            created_at=now,
            updated_at=now,
        )
    return row.pk


@pytest.mark.live
@pytest.mark.slow
def test_a_sign_out_with_the_broker_down_is_delivered_later_by_the_sweep(
    celery, worker, receiver, tenant_a, commit
):
    from kernel.accounts.models import UserSession
    from oauth.backchannel.services import session_client_record
    from oauth.models import Client
    from oauth.oidc.tokens import build_id_token

    path = "/outbox/broker-down"
    since = worker.log_size()
    registered = bcl_client(commit, tenant_a, receiver.url(path))
    with commit(tenant_a):
        user = make_user(tenant_a)
        web = tenant_a.client()
        web.force_login(user)
        sid = UserSession.objects.get(user=user).sid
        client = Client.objects.get(pk=registered.pk)
        session_client_record(sid=sid, client=client, user=user)
        hint = remember_secret(
            build_id_token(
                issuer=tenant_a.issuer, client=client, user=user, auth_time=int(time.time())
            )
        )

    with broker_unreachable(), commit(tenant_a):
        started = time.monotonic()
        response = post_form(
            web, "/oauth/logout", {"id_token_hint": hint, "client_id": client.client_id}
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 1.5, f"the sign-out took {elapsed:.2f} s with the broker down"
    (owed,) = _rows(commit, tenant_a, sub=str(user.pk))
    assert (owed["state"], owed["attempts"], owed["sid"]) == ("pending", 0, sid)
    time.sleep(1.0)
    assert receiver.at(path) == []  # no message reached the running worker

    beat = celery(CeleryBeat, TEST_BACKCHANNEL_LOGOUT_SWEEP_INTERVAL_SECONDS="1")
    try:
        wait_until(lambda: receiver.at(path), timeout=30, message="the sweep never delivered")
    finally:
        beat.stop()
    assert "workers.tasks.sweep_all_tenants_backchannel_logouts" in beat.log()
    (request,) = receiver.at(path)
    with commit():
        jwks = tenant_a.client().get("/oauth/jwks").json()
    claims = jose.verify(remember_secret(request.form["logout_token"][0]), jwks, ["RS256"]).claims
    assert (claims["sub"], claims["sid"], claims["aud"]) == (str(user.pk), sid, client.client_id)
    delivered = wait_until(
        lambda: [r for r in _rows(commit, tenant_a, sub=str(user.pk)) if r["state"] != "pending"],
        message="the delivery was not recorded on its row",
    )
    assert [(r["state"], r["attempts"]) for r in delivered] == [("delivered", 1)]
    audit = audited(commit, tenant_a, client, "client.backchannel_logout_delivered")
    assert [(a["attempt"], a["status"]) for a in audit] == [(1, 200)]
    time.sleep(2.5)  # the sweeps after the delivery send nothing more
    assert len(receiver.at(path)) == 1
    assert_worker_log_clean(worker, since)


@pytest.mark.live
def test_two_attempts_at_one_row_at_once_deliver_once(receiver, in_process_fetch, tenant_a, commit):
    from oauth.backchannel.services import Outcome, logout_delivery_attempt

    path = "/outbox/concurrent"
    client = bcl_client(commit, tenant_a, receiver.url(path))
    delivery_id = _owe(commit, tenant_a, client)
    outcomes: list = []

    def attempt():  # in a thread of its own, so on a database connection of its own
        try:
            with tenant_a.context():
                outcomes.append(logout_delivery_attempt(delivery_id=delivery_id))
        finally:
            connection.close()

    receiver.delay = 1.5
    first = threading.Thread(target=attempt)
    try:
        with commit():
            first.start()
            wait_until(lambda: receiver.at(path), message="the first attempt never POSTed")
            started = time.monotonic()
            with tenant_a.context():
                second = logout_delivery_attempt(delivery_id=delivery_id)  # the first POSTs
            waited = time.monotonic() - started
            first.join(10)
    finally:
        receiver.delay = 0.0
    assert second is None and waited < 1.0, "the second attempt waited for the first's lock"
    assert [o.outcome for o in outcomes] == [Outcome.DELIVERED]
    assert len(receiver.at(path)) == 1
    (row,) = _rows(commit, tenant_a, pk=delivery_id)
    assert (row["state"], row["attempts"]) == ("delivered", 1)
    assert row["purge_after"] - row["updated_at"] == timedelta(days=7)  # the retention
    with commit(tenant_a):
        assert logout_delivery_attempt(delivery_id=delivery_id) is None  # finished: nothing
    assert len(receiver.at(path)) == 1
    assert len(audited(commit, tenant_a, client, "client.backchannel_logout_delivered")) == 1


@pytest.mark.live
@pytest.mark.slow
def test_a_tenants_sweep_sends_only_its_own_rows(worker, receiver, two_tenants, commit):
    from django_tenants.utils import schema_context

    from workers.tasks import sweep_backchannel_logouts

    alpha, bravo = two_tenants
    since = worker.log_size()
    clients = {
        t.slug: bcl_client(commit, t, receiver.url(f"/outbox/walls-{t.slug}"))
        for t in (alpha, bravo)
    }
    shared_pk = 10**12 + int(time.time() * 1000) % 10**9  # the same id in both schemas
    alpha_row = _owe(commit, alpha, clients[alpha.slug], pk=shared_pk, overdue=True)
    bravo_rows = [
        _owe(commit, bravo, clients[bravo.slug], pk=shared_pk, overdue=True),
        _owe(commit, bravo, clients[bravo.slug], overdue=True),
    ]
    try:
        with schema_context(alpha.schema):
            sweep_backchannel_logouts.apply_async()
        wait_until(
            lambda: receiver.at(f"/outbox/walls-{alpha.slug}"), message="alpha's row not sent"
        )
        wait_until(
            lambda: _rows(commit, alpha, pk=alpha_row)[0]["state"] == "delivered",
            message="alpha's row not recorded as delivered",
        )
        swept = wait_until(
            lambda: [
                line
                for line in worker.log(since).splitlines()
                if "sweep_backchannel_logouts[" in line and " succeeded " in line
            ],
            message="the sweep did not finish",
        )
        assert swept[0].endswith(": 1")  # alpha's one row, none of bravo's two
        time.sleep(1.0)
        assert receiver.at(f"/outbox/walls-{bravo.slug}") == []
        assert [(r["state"], r["attempts"]) for r in _rows(commit, bravo, pk__in=bravo_rows)] == [
            ("pending", 0),
            ("pending", 0),
        ]
        delivered_at_b = audited(
            commit, bravo, clients[bravo.slug], "client.backchannel_logout_delivered"
        )
        assert not delivered_at_b
        assert_worker_log_clean(worker, since)
    finally:
        from oauth.models import BackchannelLogoutDelivery

        with commit(bravo):
            BackchannelLogoutDelivery.objects.filter(pk__in=bravo_rows).delete()


@pytest.mark.django_db
def test_the_purge_drops_finished_rows_and_gives_up_on_old_pending_ones(two_tenants):
    from kernel.audit.models import AuditEvent
    from oauth.models import BackchannelLogoutDelivery, Client
    from workers.purge import count_schema, purge_schema

    alpha, bravo = two_tenants
    now = timezone.now()
    past, future = now - timedelta(minutes=1), now + timedelta(days=1)
    made = {}
    for tenant in two_tenants:
        registered = make_web_client(
            tenant, scopes=["openid"], backchannel_logout_uri="https://rp.example.com/bcl"
        )
        with tenant.context():
            client = Client.objects.get(pk=registered.pk)
            for name, state, purge_after in (
                ("delivered-long-ago", "delivered", past),
                ("dropped-long-ago", "dropped", past),
                ("pending-too-long", "pending", past),
                ("failed-lately", "failed", future),
                ("pending-lately", "pending", future),
            ):
                BackchannelLogoutDelivery.objects.create(
                    client=client, sub=name, sid="", issuer=tenant.issuer, state=state,
                    attempts=2, next_attempt_at=now, purge_after=purge_after,
                    created_at=now - timedelta(days=1), updated_at=now,
                )  # fmt: skip
        made[tenant.slug] = client

    connection.set_schema_to_public()  # the purge names its schema, as the CLI's does
    assert count_schema(schema=alpha.schema)["backchannel_logout_deliveries"] == 3
    assert purge_schema(schema=alpha.schema)["backchannel_logout_deliveries"] == 3

    def left(tenant):
        with tenant.context():
            return set(BackchannelLogoutDelivery.objects.values_list("sub", flat=True))

    def given_up(tenant):
        with tenant.context():
            return list(
                AuditEvent.objects.filter(
                    action="client.backchannel_logout_failed",
                    object_id=made[tenant.slug].client_id,
                ).values_list("changes", flat=True)
            )

    assert left(alpha) >= {"failed-lately", "pending-lately"}
    assert not left(alpha) & {"delivered-long-ago", "dropped-long-ago", "pending-too-long"}
    (event,) = given_up(alpha)
    assert event["user"] == "pending-too-long" and event["attempt"] == 2
    assert event["status"] is None and "given up" in event["error"]
    assert "pending-too-long" in left(bravo) and given_up(bravo) == []  # another tenant's


@pytest.mark.django_db
def test_the_sweep_takes_overdue_pending_rows_only_the_most_overdue_first(tenant_a, settings):
    from oauth.backchannel.selectors import logout_deliveries_overdue
    from oauth.models import BackchannelLogoutDelivery, Client

    settings.GATEHOUSE = {
        **settings.GATEHOUSE,
        "BACKCHANNEL_LOGOUT": {"SWEEP_GRACE_SECONDS": 60, "SWEEP_BATCH": 2},
    }
    registered = make_web_client(
        tenant_a, scopes=["openid"], backchannel_logout_uri="https://rp.example.com/bcl"
    )
    now = timezone.now()
    with tenant_a.context():
        client = Client.objects.get(pk=registered.pk)
        BackchannelLogoutDelivery.objects.all().delete()  # this test's transaction only
        ids = {}
        for name, state, overdue in (
            ("an-hour", "pending", timedelta(hours=1)),
            ("two-hours", "pending", timedelta(hours=2)),
            ("three-hours", "pending", timedelta(hours=3)),
            ("within-grace", "pending", timedelta(seconds=30)),
            ("not-yet-due", "pending", -timedelta(minutes=5)),
            ("delivered", "delivered", timedelta(hours=4)),
            ("failed", "failed", timedelta(hours=4)),
        ):
            ids[name] = BackchannelLogoutDelivery.objects.create(
                client=client, sub=name, issuer=tenant_a.issuer, state=state,
                next_attempt_at=now - overdue, purge_after=now + timedelta(days=1),
                created_at=now, updated_at=now,
            ).pk  # fmt: skip
        assert logout_deliveries_overdue() == [ids["three-hours"], ids["two-hours"]]
        settings.GATEHOUSE = {**settings.GATEHOUSE, "BACKCHANNEL_LOGOUT": {"SWEEP_BATCH": 10}}
        assert logout_deliveries_overdue() == [
            ids[n] for n in ("three-hours", "two-hours", "an-hour")
        ]


@pytest.mark.django_db
def test_a_message_queued_before_the_outbox_is_still_delivered(
    receiver, in_process_fetch, tenant_a
):
    """During the deploy that brings the outbox, workers may get messages that name the
    token rather than a row: they are attempted as before."""
    from workers.tasks import deliver_backchannel_logout

    path = "/outbox/before-the-outbox"
    client = make_web_client(tenant_a, scopes=["openid"], backchannel_logout_uri=receiver.url(path))
    with tenant_a.context():
        outcome = deliver_backchannel_logout(
            client_id=client.client_id, issuer=tenant_a.issuer, sub="u-9", sid="s-9"
        )
    assert outcome == "delivered" and len(receiver.at(path)) == 1


def test_the_outbox_must_outlast_the_retries(settings):
    from oauth.checks import check_backchannel_logout_outbox

    assert check_backchannel_logout_outbox() == []
    settings.GATEHOUSE = {**settings.GATEHOUSE, "BACKCHANNEL_LOGOUT": {"MAX_PENDING_SECONDS": 300}}
    (error,) = check_backchannel_logout_outbox()
    # 10 + 20 + 40 + 80 + 160 s between six attempts, then a minute's grace and interval.
    assert error.id == "oauth.E003" and "430 s" in error.msg
