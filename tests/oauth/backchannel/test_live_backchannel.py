"""OIDC Back-Channel Logout 1.0 end to end: a stock client (Authlib's OAuth2Session) signs a
user in on the live server, the user signs out there (RP-initiated logout), and a real Celery
worker POSTs a logout token to the client's https receiver, which the test verifies with
jwcrypto against the tenant's JWKS. No eager Celery: the worker is ``celery -A workers
worker`` in its own process, with retries after one second, doubling, three attempts in all,
each outcome recorded on the sign-out's outbox row (test_outbox: when the broker is down).
"""

from __future__ import annotations

import time

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from oauth.backchannel.tokens import LOGOUT_EVENT
from tests.oauth.backchannel.helpers import audited, bcl_client
from tests.oauth.backchannel.receiver import LogoutReceiver
from tests.support import jose
from tests.support.celery import assert_worker_log_clean, make_worker_factory, wait_until
from tests.support.factories import REDIRECT_URI, make_user
from tests.support.live_clients import login_and_consent, metadata
from tests.support.secrets import remember_secret

pytestmark = [pytest.mark.live, pytest.mark.slow]

ATTEMPTS = 3


@pytest.fixture(autouse=True)
def _plain_http_for_the_client(monkeypatch):
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture(scope="module")
def worker(two_tenants, live_server_db_name, tmp_path_factory, rp_ca):
    """The worker may reach loopback and trusts the receivers' CA (development allowance)."""
    factory = make_worker_factory(live_server_db_name, tmp_path_factory.mktemp("celery"))
    yield next(factory)(
        GATEHOUSE_DOCUMENT_FETCH_ALLOW_LOOPBACK="true",
        GATEHOUSE_DOCUMENT_FETCH_CA_BUNDLE=rp_ca[1],
        GATEHOUSE_BACKCHANNEL_LOGOUT_ATTEMPTS=str(ATTEMPTS),
        GATEHOUSE_BACKCHANNEL_LOGOUT_RETRY_BASE_SECONDS="1",
    )
    next(factory, None)


def _user(commit, tenant):
    with commit(tenant):
        return make_user(tenant)


def _sign_in(server, tenant, client, user) -> tuple[requests.Session, dict]:
    """The user signs in to ``client`` through the code flow; their browser (with its
    session cookie) and the client's token response."""
    meta = metadata(server, tenant)
    session = OAuth2Session(
        client.client_id,
        client.secret,
        scope="openid",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )
    verifier = remember_secret(generate_token(48))
    url, _state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=generate_token(16)
    )
    agent = requests.Session()
    callback = login_and_consent(server, tenant, url, user.username, user.raw_password, agent=agent)
    token = session.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    for name in ("access_token", "refresh_token", "id_token"):
        remember_secret(token.get(name))
    return agent, token


def _jwks(server, tenant) -> dict:
    return requests.get(server.url(tenant.host, "/oauth/jwks"), timeout=10).json()


def _sign_out(server, tenant, agent, token, client) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = agent.post(  # a form POST (§2 allows it): a query string would be logged
        server.url(tenant.host, "/oauth/logout"),
        data={"id_token_hint": token["id_token"], "client_id": client.client_id},
        allow_redirects=False,
        timeout=10,
    )
    return response, time.monotonic() - started


def _outbox(commit, tenant, client) -> list[tuple[str, int]]:
    """(state, attempts) of the client's outbox rows, recorded by the worker."""
    from oauth.models import BackchannelLogoutDelivery

    with commit(tenant):
        return list(
            BackchannelLogoutDelivery.objects.filter(client_id=client.pk).values_list(
                "state", "attempts"
            )
        )


def test_rp_initiated_logout_sends_a_logout_token_the_client_can_verify(
    gatehouse_server, worker, receiver, tenant_a, commit
):
    path = "/bcl/verified"
    since = worker.log_size()
    client = bcl_client(
        commit, tenant_a, receiver.url(path), backchannel_logout_session_required=True
    )
    user = _user(commit, tenant_a)
    agent, token = _sign_in(gatehouse_server, tenant_a, client, user)
    jwks = _jwks(gatehouse_server, tenant_a)
    id_token = jose.verify(token["id_token"], jwks, ["RS256"]).claims
    assert isinstance(id_token.get("sid"), str) and len(id_token["sid"]) >= 20

    response, _elapsed = _sign_out(gatehouse_server, tenant_a, agent, token, client)
    assert response.status_code == 200, response.text[:300]

    wait_until(lambda: receiver.at(path), timeout=20, message="no logout token arrived")
    (request,) = receiver.at(path)
    assert request.content_type == "application/x-www-form-urlencoded"
    assert list(request.form) == ["logout_token"]
    logout_token = remember_secret(request.form["logout_token"][0])
    verified = jose.verify(logout_token, jwks, ["RS256"])
    assert verified.header["typ"] == "logout+jwt" and verified.header["alg"] == "RS256"
    claims = verified.claims
    issuer = gatehouse_server.issuer(tenant_a.host)
    assert claims["iss"] == issuer == id_token["iss"]
    assert claims["aud"] == client.client_id
    assert claims["sub"] == id_token["sub"] == str(user.pk)
    assert claims["sid"] == id_token["sid"]
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert "nonce" not in claims and "nonce" in id_token
    assert claims["jti"] and claims["iat"] <= time.time() + 5
    assert 0 < claims["exp"] - claims["iat"] <= 300
    delivered = wait_until(
        lambda: audited(commit, tenant_a, client, "client.backchannel_logout_delivered"),
        message="delivery not audited",
    )
    assert delivered[0]["status"] == 200 and delivered[0]["attempt"] == 1
    assert logout_token not in str(delivered)
    assert receiver.at(path) == [request]  # one session, one client: one token
    assert _outbox(commit, tenant_a, client) == [("delivered", 1)]
    assert_worker_log_clean(worker, since)


def test_sign_out_does_not_wait_for_a_slow_receiver(
    gatehouse_server, worker, receiver, tenant_a, commit
):
    path = "/bcl/slow"
    client = bcl_client(commit, tenant_a, receiver.url(path))
    user = _user(commit, tenant_a)
    agent, token = _sign_in(gatehouse_server, tenant_a, client, user)
    receiver.delay = 3.0
    try:
        response, elapsed = _sign_out(gatehouse_server, tenant_a, agent, token, client)
        assert response.status_code == 200
        answered = time.monotonic()
        wait_until(lambda: receiver.at(path), timeout=20, message="no logout token arrived")
        # The receiver got the token and is still sleeping on it: the user already had the
        # answer (and it came far quicker than the receiver will answer).
        assert elapsed < 2.0, f"sign-out took {elapsed:.2f} s"
        assert answered < receiver.at(path)[0].at + receiver.delay
        wait_until(
            lambda: audited(commit, tenant_a, client, "client.backchannel_logout_delivered"),
            message="slow delivery not audited",
        )
    finally:
        receiver.delay = 0.0


def test_a_receiver_that_is_down_gets_retries_until_it_is_up(
    gatehouse_server, worker, rp_ca, tenant_a, commit
):
    down = LogoutReceiver(rp_ca[0])  # its port is chosen, nothing listens on it yet
    path = "/bcl/down"
    client = bcl_client(commit, tenant_a, down.url(path))
    user = _user(commit, tenant_a)
    agent, token = _sign_in(gatehouse_server, tenant_a, client, user)

    response, elapsed = _sign_out(gatehouse_server, tenant_a, agent, token, client)
    assert response.status_code == 200 and elapsed < 2.0

    retrying = wait_until(
        lambda: audited(commit, tenant_a, client, "client.backchannel_logout_retrying"),
        message="the failed attempt was not audited",
    )
    assert retrying[0]["attempt"] == 1 and retrying[0]["status"] is None
    assert "could not be reached" in retrying[0]["error"]
    assert retrying[0]["retry_in_seconds"] == 1
    down.start()
    try:
        wait_until(lambda: down.at(path), timeout=20, message="no retry reached the receiver")
        delivered = wait_until(
            lambda: audited(commit, tenant_a, client, "client.backchannel_logout_delivered"),
            message="the retry was not audited",
        )
        assert delivered[0]["attempt"] >= 2
        assert len(down.at(path)) == 1
        assert not audited(commit, tenant_a, client, "client.backchannel_logout_failed")
        assert _outbox(commit, tenant_a, client) == [("delivered", delivered[0]["attempt"])]
    finally:
        down.stop()


def test_a_failing_receiver_gets_back_off_then_the_worker_gives_up(
    gatehouse_server, worker, receiver, tenant_a, commit
):
    path = "/bcl/failing"
    since = worker.log_size()
    client = bcl_client(commit, tenant_a, receiver.url(path))
    user = _user(commit, tenant_a)
    agent, token = _sign_in(gatehouse_server, tenant_a, client, user)
    receiver.status = 503
    try:
        _sign_out(gatehouse_server, tenant_a, agent, token, client)
        failed = wait_until(
            lambda: audited(commit, tenant_a, client, "client.backchannel_logout_failed"),
            timeout=30,
            message="the worker never gave up",
        )
    finally:
        receiver.status = 200
    retrying = audited(commit, tenant_a, client, "client.backchannel_logout_retrying")
    assert [row["attempt"] for row in retrying] == list(range(1, ATTEMPTS))
    assert [row["retry_in_seconds"] for row in retrying] == [1, 2]  # doubling
    assert failed == [{"user": str(user.pk), "attempt": ATTEMPTS, "status": 503}]
    attempts = receiver.at(path)
    assert len(attempts) == ATTEMPTS
    gaps = [later.at - earlier.at for earlier, later in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9
    time.sleep(2.5)
    assert len(receiver.at(path)) == ATTEMPTS  # nothing after giving up
    assert _outbox(commit, tenant_a, client) == [("failed", ATTEMPTS)]
    assert_worker_log_clean(worker, since)  # giving up is an audited outcome, not a crash


def test_signing_out_at_one_tenant_tells_no_client_of_another(
    gatehouse_server, worker, receiver, two_tenants, commit
):
    alpha, bravo = two_tenants
    clients, browsers = {}, {}
    for tenant in (alpha, bravo):
        clients[tenant.slug] = bcl_client(commit, tenant, receiver.url(f"/bcl/x-{tenant.slug}"))
        user = _user(commit, tenant)
        browsers[tenant.slug] = _sign_in(gatehouse_server, tenant, clients[tenant.slug], user)

    agent, token = browsers[alpha.slug]
    response, _elapsed = _sign_out(gatehouse_server, alpha, agent, token, clients[alpha.slug])
    assert response.status_code == 200

    wait_until(lambda: receiver.at(f"/bcl/x-{alpha.slug}"), message="alpha's client not told")
    time.sleep(2.0)
    assert receiver.at(f"/bcl/x-{bravo.slug}") == []
    assert not audited(commit, bravo, clients[bravo.slug], "client.backchannel_logout_delivered")
    # Bravo's user is still signed in there: the session's client is still on record.
    from oauth.models import SessionClient

    with commit(bravo):
        assert SessionClient.objects.filter(client_id=clients[bravo.slug].pk).count() == 1
    with commit(alpha):
        assert SessionClient.objects.filter(client_id=clients[alpha.slug].pk).count() == 0
