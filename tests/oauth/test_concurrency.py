"""Races against the live server (2 gunicorn workers x 4 threads), data committed:
concurrent code redemptions and concurrent refreshes of one token."""

import threading

import pytest
import requests

from tests.support.factories import make_user, make_web_client
from tests.support.secrets import remember_secret

# No django_db: rows are committed (the `commit` fixture) so the live server sees them.
pytestmark = [pytest.mark.live, pytest.mark.slow]


def committed_code(commit, tenant, client, user) -> str:
    from django.utils import timezone

    from kernel import credentials as digests
    from oauth.models import Client
    from oauth.services.codes import authorization_code_create

    code = remember_secret(digests.new_secret())
    with commit(tenant):
        authorization_code_create(
            client=Client.objects.get(pk=client.pk),
            user=user,
            code=code,
            redirect_uri=client.redirect_uris[0],
            scope="api read",
            auth_time=timezone.now(),
        )
    return code


def together(count: int, send) -> list[requests.Response]:
    """Send ``count`` requests at once (released by a barrier) and return the answers."""
    barrier = threading.Barrier(count)
    answers: list = [None] * count

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        answers[i] = send()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return answers


def token_post(server, tenant, client, data) -> requests.Response:
    return requests.post(
        server.url(tenant.host, "/oauth/token"),
        data=data,
        auth=(client.client_id, client.secret),
        timeout=30,
    )


def test_two_concurrent_code_redemptions_give_one_success(gatehouse_server, tenant, commit):
    with commit(tenant):
        client = make_web_client(tenant)
        user = make_user(tenant)
    code = committed_code(commit, tenant, client, user)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uris[0],
    }
    answers = together(2, lambda: token_post(gatehouse_server, tenant, client, data))
    for answer in answers:
        remember_secret(answer.json().get("access_token"))
        remember_secret(answer.json().get("refresh_token"))
    assert sorted(a.status_code for a in answers) == [200, 400]
    loser = next(a for a in answers if a.status_code == 400)
    assert loser.json()["error"] == "invalid_grant"
    assert loser.headers["Cache-Control"] == "no-store"
    # A second use of a code is a replay (RFC 6749 §4.1.2): the winner's grant is revoked.
    winner = next(a for a in answers if a.status_code == 200).json()
    introspection = requests.post(
        gatehouse_server.url(tenant.host, "/oauth/introspect"),
        data={"token": winner["access_token"]},
        auth=(client.client_id, client.secret),
        timeout=30,
    )
    assert introspection.json() == {"active": False}


def test_twenty_concurrent_refreshes_one_winner(gatehouse_server, tenant, commit):
    from oauth.services.issuer import issuer_settings_update

    with commit(tenant):
        issuer_settings_update(refresh_reuse_window=2)  # the default, stated explicitly
        client = make_web_client(tenant)
        user = make_user(tenant)
    code = committed_code(commit, tenant, client, user)
    first = token_post(
        gatehouse_server,
        tenant,
        client,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uris[0]},
    ).json()
    remember_secret(first["access_token"])
    remember_secret(first["refresh_token"])

    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    answers = together(20, lambda: token_post(gatehouse_server, tenant, client, data))
    for answer in answers:
        remember_secret(answer.json().get("access_token"))
        remember_secret(answer.json().get("refresh_token"))

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [400] * 19, statuses
    assert {a.json()["error"] for a in answers if a.status_code == 400} == {"invalid_grant"}
    winner = next(a for a in answers if a.status_code == 200).json()

    # The winner's tokens still work: its access token is active, its refresh token rotates.
    introspection = requests.post(
        gatehouse_server.url(tenant.host, "/oauth/introspect"),
        data={"token": winner["access_token"]},
        auth=(client.client_id, client.secret),
        timeout=30,
    )
    assert introspection.json()["active"] is True
    next_round = token_post(
        gatehouse_server,
        tenant,
        client,
        {"grant_type": "refresh_token", "refresh_token": winner["refresh_token"]},
    )
    remember_secret(next_round.json().get("access_token"))
    remember_secret(next_round.json().get("refresh_token"))
    assert next_round.status_code == 200


def test_concurrent_reuse_rotation_and_revocation_of_one_family_never_5xx(
    gatehouse_server, tenant_a, commit
):
    """Locks are taken family first, then token: no deadlock, so no 5xx."""
    from oauth.services.issuer import issuer_settings_update

    with commit(tenant_a):
        issuer_settings_update(refresh_reuse_window=0)
        client = make_web_client(tenant_a)
        user = make_user(tenant_a)
    try:
        code = committed_code(commit, tenant_a, client, user)
        chain = [
            token_post(
                gatehouse_server,
                tenant_a,
                client,
                {"grant_type": "authorization_code", "code": code,
                 "redirect_uri": client.redirect_uris[0]},
            ).json()
        ]  # fmt: skip
        for _ in range(3):
            data = {"grant_type": "refresh_token", "refresh_token": chain[-1]["refresh_token"]}
            chain.append(token_post(gatehouse_server, tenant_a, client, data).json())
        for tokens in chain:
            remember_secret(tokens["access_token"])
            remember_secret(tokens["refresh_token"])

        revoke_url = gatehouse_server.url(tenant_a.host, "/oauth/revoke")
        sends = [
            lambda t=t: token_post(
                gatehouse_server,
                tenant_a,
                client,
                {"grant_type": "refresh_token", "refresh_token": t["refresh_token"]},
            )
            for t in chain
        ] + [
            lambda: requests.post(
                revoke_url,
                data={"token": chain[-1]["refresh_token"]},
                auth=(client.client_id, client.secret),
                timeout=30,
            )
        ]
        barrier = threading.Barrier(len(sends))
        answers: list = [None] * len(sends)

        def run(i):
            barrier.wait(timeout=30)
            answers[i] = sends[i]()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sends))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        for answer in answers:
            body = answer.json()
            remember_secret(body.get("access_token"))
            remember_secret(body.get("refresh_token"))
        assert all(a.status_code < 500 for a in answers), [a.status_code for a in answers]
        # Reuse of a retired token is among them: the family ends revoked.
        introspection = requests.post(
            gatehouse_server.url(tenant_a.host, "/oauth/introspect"),
            data={"token": chain[-1]["access_token"]},
            auth=(client.client_id, client.secret),
            timeout=30,
        )
        assert introspection.json() == {"active": False}
    finally:
        with commit(tenant_a):
            issuer_settings_update(refresh_reuse_window=2)
