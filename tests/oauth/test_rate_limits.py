"""Rate limits of the token, introspection, revocation and userinfo endpoints
(``oauth.ratelimits``): 429 + Retry-After + RFC 6749 §5.2 JSON, throttles an attacker cannot
turn against the real client, counters per tenant, fail open without Redis."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from gatehouse import cache as cache_module
from kernel.audit.models import AuditEvent
from kernel.ratelimit import reset_availability
from oauth.models import IssuerSettings
from tests.support.factories import (
    RegisteredClient,
    basic_auth,
    introspect,
    make_client,
    make_web_client,
    post_form,
    revoke,
    token_request,
    user_tokens,
)
from tests.support.live import free_port
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

GRANT = {"grant_type": "client_credentials"}


def set_limits(tenant, **limits: int) -> None:
    """Per-tenant overrides, as an operator sets them (``rate_limit_<name>``)."""
    with tenant.context():
        row = IssuerSettings.load()
        for name, value in limits.items():
            setattr(row, f"rate_limit_{name}", value)
        row.save()


def issue(tenant, client: RegisteredClient, ip: str = "127.0.0.1", secret: str | None = None):
    auth = basic_auth(client.client_id, secret or client.secret)
    response = token_request(tenant, GRANT, REMOTE_ADDR=ip, **auth)
    if response.status_code == 200:
        remember_secret(response.json()["access_token"])
    return response


def assert_limited(response, reason: str) -> None:
    """RFC 6585 §4 429, Retry-After within the window, RFC 6749 §5.2 body, never cached."""
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= 300
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "temporarily_unavailable"
    assert reason in body["error_description"]
    assert f"retry after {response['Retry-After']} seconds" in body["error_description"]


def test_defaults_are_never_hit_by_ordinary_traffic(tenant_a):
    client = make_client(tenant_a)
    assert all(issue(tenant_a, client).status_code == 200 for _ in range(30))


def test_per_client_limit_counts_successful_answers_only(tenant_a):
    set_limits(tenant_a, client_requests=3)
    client, other = make_client(tenant_a), make_client(tenant_a)
    assert [issue(tenant_a, client).status_code for _ in range(3)] == [200] * 3
    assert_limited(issue(tenant_a, client), "for this client")
    assert issue(tenant_a, other).status_code == 200  # per client


def test_wrong_secrets_never_spend_the_clients_quota(tenant_a):
    set_limits(tenant_a, client_requests=2, tenant_requests=2)
    client = make_client(tenant_a)
    for n in range(10):  # from ten addresses, so no failure limit trips
        assert issue(tenant_a, client, ip=f"10.0.1.{n}", secret="wrong").status_code == 401
    assert [issue(tenant_a, client).status_code for _ in range(2)] == [200, 200]
    assert_limited(issue(tenant_a, client), "for this client")


def test_per_tenant_limit(tenant_a):
    set_limits(tenant_a, tenant_requests=2)
    first, second = make_client(tenant_a), make_client(tenant_a)
    assert issue(tenant_a, first).status_code == 200
    assert issue(tenant_a, second).status_code == 200
    assert_limited(issue(tenant_a, first), "for this issuer")


def test_per_ip_limit_counts_every_request(tenant_a):
    set_limits(tenant_a, ip_requests=3)
    client = make_client(tenant_a)
    bad = token_request(tenant_a, {"grant_type": "nonsense"}, client, REMOTE_ADDR="10.0.0.1")
    assert bad.status_code == 400
    assert issue(tenant_a, client, ip="10.0.0.1").status_code == 200
    assert issue(tenant_a, client, ip="10.0.0.1").status_code == 200
    assert_limited(issue(tenant_a, client, ip="10.0.0.1"), "from this address")
    assert issue(tenant_a, client, ip="10.0.0.2").status_code == 200


def test_wrong_secret_flood_does_not_lock_out_the_real_client(tenant_a):
    """Failures count per (client_id, IP): the flooding address is refused, even with the
    right secret; the real client at another address is not."""
    set_limits(tenant_a, client_ip_auth_failures=3, ip_auth_failures=50)
    client = make_client(tenant_a)
    attacker, real = "203.0.113.9", "198.51.100.7"
    flood = [issue(tenant_a, client, ip=attacker, secret="guess").status_code for _ in range(3)]
    assert flood == [401] * 3
    assert_limited(issue(tenant_a, client, ip=attacker, secret="guess"), "for this client")
    assert_limited(issue(tenant_a, client, ip=attacker), "for this client")
    assert issue(tenant_a, client, ip=real).status_code == 200
    # Another client from the flooding address is still served: the IP has failures left.
    assert issue(tenant_a, make_client(tenant_a), ip=attacker).status_code == 200


def test_failures_per_ip_across_client_ids(tenant_a):
    set_limits(tenant_a, ip_auth_failures=4)
    client = make_client(tenant_a)
    for n in range(4):
        fake = RegisteredClient(f"made-up-{n}", "x", 0, tenant_a, [])
        assert issue(tenant_a, fake, ip="203.0.113.10").status_code == 401
    assert_limited(issue(tenant_a, client, ip="203.0.113.10"), "failed authentications")
    assert issue(tenant_a, client, ip="203.0.113.11").status_code == 200


def test_introspection_and_revocation_have_their_own_limits(tenant_a):
    set_limits(tenant_a, client_requests=2)
    client = make_client(tenant_a)
    token = issue(tenant_a, client).json()["access_token"]
    assert issue(tenant_a, client).status_code == 200
    assert_limited(issue(tenant_a, client), "for this client")
    assert [introspect(tenant_a, client, token).status_code for _ in range(2)] == [200, 200]
    assert_limited(introspect(tenant_a, client, token), "for this client")
    assert [revoke(tenant_a, client, token).status_code for _ in range(2)] == [200, 200]
    assert_limited(revoke(tenant_a, client, token), "for this client")


def test_introspection_failed_authentication_counts(tenant_a):
    set_limits(tenant_a, client_ip_auth_failures=2)
    client = make_client(tenant_a)
    wrong = RegisteredClient(client.client_id, "wrong", 0, tenant_a, [])
    assert [introspect(tenant_a, wrong, "t").status_code for _ in range(2)] == [401, 401]
    assert_limited(introspect(tenant_a, wrong, "t"), "failed authentications")
    # Shared with the token endpoint: guessing there is no fresh start.
    assert_limited(issue(tenant_a, client), "failed authentications")


def test_userinfo_limits_per_client_and_refused_tokens(tenant_a):
    client = make_web_client(tenant_a)
    access = user_tokens(tenant_a, client, scope="openid")["access_token"]
    set_limits(tenant_a, client_requests=2, ip_auth_failures=2)
    web = tenant_a.client()

    def userinfo(token, ip="127.0.0.1"):
        return web.get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=ip)

    assert [userinfo(access).status_code for _ in range(2)] == [200, 200]
    assert_limited(userinfo(access), "for this client")
    assert [userinfo("forged", ip="10.9.9.9").status_code for _ in range(2)] == [401, 401]
    assert_limited(userinfo("forged", ip="10.9.9.9"), "failed authentications")


def test_counters_never_cross_tenants(tenant_a, tenant_b):
    """Tenant A flooded to its limits, with the same client_id and IP seen at B: B is
    served, and B's own limit is its own."""
    set_limits(tenant_a, client_requests=1, client_ip_auth_failures=1, ip_requests=5)
    set_limits(tenant_b, client_requests=2)
    a, b = make_client(tenant_a), make_client(tenant_b)
    assert issue(tenant_a, a).status_code == 200
    assert issue(tenant_a, RegisteredClient(b.client_id, "w", 0, tenant_a, [])).status_code == 401
    statuses = {issue(tenant_a, a).status_code for _ in range(5)}
    assert statuses == {429}
    assert [issue(tenant_b, b).status_code for _ in range(2)] == [200, 200]
    assert_limited(issue(tenant_b, b), "for this client")


@pytest.fixture
def redis_down(settings):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": dead},
    }
    cache_module.FailOpenRedisCache._down_until = 0.0
    reset_availability()
    yield
    cache_module.FailOpenRedisCache._down_until = 0.0
    reset_availability()


def test_issuance_goes_on_when_redis_is_down(tenant_a, redis_down):
    """Fail open: limits of 1 and failures in between, yet every valid request is served."""
    set_limits(tenant_a, client_requests=1, tenant_requests=1, ip_requests=1)
    set_limits(tenant_a, client_ip_auth_failures=1, ip_auth_failures=1)
    client = make_client(tenant_a)
    assert issue(tenant_a, client, secret="wrong").status_code == 401
    assert [issue(tenant_a, client).status_code for _ in range(5)] == [200] * 5
    token = issue(tenant_a, client).json()["access_token"]
    assert introspect(tenant_a, client, token).json()["active"] is True


def test_limits_can_be_turned_off(tenant_a, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "RATE_LIMITS": {"ENABLED": False}}
    set_limits(tenant_a, client_requests=1)
    client = make_client(tenant_a)
    assert [issue(tenant_a, client).status_code for _ in range(3)] == [200] * 3


def test_body_client_id_is_counted_like_basic(tenant_a):
    set_limits(tenant_a, client_ip_auth_failures=2)
    client = make_client(tenant_a, auth_method="client_secret_post")
    data = {**GRANT, "client_id": client.client_id, "client_secret": "wrong"}
    web = tenant_a.client()
    assert [post_form(web, "/oauth/token", data).status_code for _ in range(2)] == [401, 401]
    assert_limited(post_form(web, "/oauth/token", data), "for this client")


def test_operator_command_sets_and_resets_overrides_audited(tenant_a, tenant_b):
    out = StringIO()
    call_command(
        "set_rate_limits", "--tenant", tenant_a.slug, "--client-requests", "2", "--json", stdout=out
    )
    assert json.loads(out.getvalue())["overrides"]["CLIENT_REQUESTS"] == 2
    client = make_client(tenant_a)
    assert [issue(tenant_a, client).status_code for _ in range(2)] == [200, 200]
    assert_limited(issue(tenant_a, client), "for this client")
    with tenant_a.context():
        event = AuditEvent.objects.get(action="settings.rate_limits_updated")
        assert "operator command set_rate_limits" in event.actor_label
    with tenant_b.context():  # another tenant's settings are untouched
        assert IssuerSettings.load().rate_limit_client_requests is None
    call_command("set_rate_limits", "--tenant", tenant_a.slug, "--client-requests", "default")
    with tenant_a.context():
        assert IssuerSettings.load().rate_limit_client_requests is None


@pytest.mark.parametrize("value", ["0", "-5"])
def test_operator_command_refuses_non_positive_limits(tenant_a, value):
    with pytest.raises(CommandError, match="positive whole number"):
        call_command("set_rate_limits", "--tenant", tenant_a.slug, "--ip-requests", value)
