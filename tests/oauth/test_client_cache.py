"""The process's client cache on the two hot paths (client_credentials issuance and
introspection): a cached client is confirmed by the statement that acts on it, so a change
made anywhere (another process, a QuerySet.update(), an operator's SQL) is seen at once."""

import pytest

from kernel import credentials
from oauth import selectors
from oauth.models import Client, Token
from oauth.services import tokens as token_services
from tests.support.factories import (
    client_credentials_token,
    introspect,
    make_client,
    token_request,
)

pytestmark = pytest.mark.django_db

CC = {"grant_type": "client_credentials"}


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "CLIENT_CACHE_SECONDS": 300}
    selectors._client_cache.clear()
    yield
    selectors._client_cache.clear()


def _rows(tenant, client) -> int:
    with tenant.context():
        return Token.objects.filter(client_id=client.pk).count()


def _elsewhere(tenant, client, **fields) -> None:
    """Change the row as another process would: no signal, no save(), nothing in this
    process's cache told."""
    with tenant.context():
        Client.objects.filter(pk=client.pk).update(**fields)


def test_the_token_path_serves_a_client_from_the_cache(tenant, django_assert_num_queries):
    client = make_client(tenant)
    client_credentials_token(tenant, client)  # read and cached
    with django_assert_num_queries(1) as captured:  # the INSERT alone
        client_credentials_token(tenant, client)
    assert captured.captured_queries[0]["sql"].startswith("INSERT")


def test_a_client_disabled_elsewhere_gets_no_token_at_once(tenant):
    client = make_client(tenant)
    client_credentials_token(tenant, client)
    before = _rows(tenant, client)
    _elsewhere(tenant, client, disabled=True)
    response = token_request(tenant, CC, client)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert _rows(tenant, client) == before  # nothing written


def test_a_secret_replaced_elsewhere_refuses_the_old_one_at_once(tenant):
    client = make_client(tenant)
    client_credentials_token(tenant, client)
    _elsewhere(tenant, client, secret_digest=credentials.digest("a-new-secret-xyz"))
    assert token_request(tenant, CC, client).status_code == 401


def test_an_edit_elsewhere_costs_a_fresh_read_not_an_answer(tenant):
    client = make_client(tenant)
    client_credentials_token(tenant, client)
    before = _rows(tenant, client)
    _elsewhere(tenant, client, name="Renamed elsewhere")
    client_credentials_token(tenant, client)  # still 200: answered again from the row
    assert _rows(tenant, client) == before + 1  # one token, not two


def test_a_client_that_never_settles_gets_a_503_to_retry(tenant, monkeypatch):
    client = make_client(tenant)

    def always_stale(*, client, **kwargs):
        raise token_services.StaleClient(client.client_id)

    monkeypatch.setattr(token_services, "token_issue", always_stale)
    response = token_request(tenant, CC, client)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


def test_introspection_confirms_a_cached_caller(tenant):
    caller = make_client(tenant, can_introspect=True)
    subject = make_client(tenant)
    token = client_credentials_token(tenant, subject)["access_token"]
    assert introspect(tenant, caller, token).json()["active"] is True  # caller cached
    assert introspect(tenant, caller, token).json()["active"] is True  # from the cache
    assert introspect(tenant, caller, "no-such-token").json() == {"active": False}
    _elsewhere(tenant, caller, disabled=True)
    refused = introspect(tenant, caller, token)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_introspection_with_a_cached_caller_takes_one_query(tenant, django_assert_num_queries):
    caller = make_client(tenant, can_introspect=True)
    token = client_credentials_token(tenant, make_client(tenant))["access_token"]
    introspect(tenant, caller, token)
    with django_assert_num_queries(1):
        assert introspect(tenant, caller, token).json()["active"] is True


def test_the_cache_never_answers_for_another_tenant(tenant_a, tenant_b):
    """Keys carry the tenant: a client_id cached at A is unknown at B."""
    client = make_client(tenant_a)
    client_credentials_token(tenant_a, client)
    response = token_request(tenant_b, CC, client)
    assert response.status_code == 401
    with tenant_b.context():
        assert not Client.objects.filter(client_id=client.client_id).exists()
