"""The tenant's issuer policy on the two hot paths (client_credentials, introspection): a
process keeps it past its short lifetime (``ISSUER_SETTINGS_CACHE_SECONDS``) only for a
request whose own statement confirms it unchanged, or that checks it before it answers
(``selectors.confirmed_issuer_policy``). A change made anywhere (another process, a
``QuerySet.update()``, an operator's SQL) applies to the next answer; nothing is written
twice or counted twice when a request is answered again.

These tests run without a test transaction: every change "elsewhere" commits on its own, as
another process's does (a row's version is the transaction that wrote it, so two changes in
one transaction would look like one). The policy rows are put back afterwards."""

import pytest
from django.db import connection

from kernel import credentials
from oauth import ratelimits, selectors
from oauth.models import IssuerSettings, Token
from tests.support.factories import (
    basic_auth,
    client_credentials_token,
    introspect,
    make_client,
    token_request,
)
from tests.support.secrets import remember_secret

CC = {"grant_type": "client_credentials"}


#: What the tests change, put back afterwards.
CHANGED = ("access_token_lifetime", "rate_limit_client_requests")


@pytest.fixture(autouse=True)
def _aged_at_once(settings, django_db_blocker, tenant_a, tenant_b):
    """Every cached policy is past its short lifetime as soon as it is read; autocommit."""
    settings.GATEHOUSE = {
        **settings.GATEHOUSE,
        "ISSUER_SETTINGS_CACHE_SECONDS": 0,
        "CLIENT_CACHE_SECONDS": 300,
    }
    selectors._client_cache.clear()
    with django_db_blocker.unblock():
        saved = {}
        for info in (tenant_a, tenant_b):
            with info.context():
                saved[info.schema] = info, IssuerSettings.objects.values(*CHANGED).get()
        try:
            yield
        finally:
            for info, values in saved.values():
                with info.context():
                    IssuerSettings.objects.update(**values)
            connection.set_schema_to_public()
    selectors._client_cache.clear()
    selectors.clear_issuer_policy_cache()


def _elsewhere(tenant, **fields) -> None:
    """Change the policy as another process would: no signal, this process not told."""
    with tenant.context():
        assert IssuerSettings.objects.update(**fields) == 1


def _entry(tenant):
    return selectors._policy_cache.get(tenant.schema)


def _tokens(tenant) -> int:
    with tenant.context():
        return Token.objects.count()


def _client_count(tenant, client, endpoint: str = ratelimits.TOKEN) -> int:
    """The client's counter of successful answers in the current window."""
    with tenant.context():
        window = ratelimits._windows(endpoint, ratelimits.limits())["client"]
        return window.count(credentials.digest(client.client_id))


def _issue(tenant, client):
    response = token_request(tenant, CC, client)
    if response.status_code == 200:
        remember_secret(response.json()["access_token"])
    return response


def test_an_aged_policy_is_confirmed_by_the_insert_not_read_again(
    tenant, django_assert_max_num_queries
):
    client = make_client(tenant)
    client_credentials_token(tenant, client)  # the policy and the client read and cached
    policy, checked = _entry(tenant)
    with django_assert_max_num_queries(2) as captured:  # the INSERT (and a SET, if any)
        client_credentials_token(tenant, client)
    sqls = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET")]
    assert len(sqls) == 1 and sqls[0].startswith("INSERT"), sqls
    assert "xmin" in sqls[0]  # the confirmation rode in the INSERT
    again, rechecked = _entry(tenant)
    assert again is policy and rechecked > checked  # trusted afresh, not re-read


def test_a_lifetime_changed_elsewhere_applies_to_the_next_token(tenant):
    client = make_client(tenant)
    assert client_credentials_token(tenant, client)["expires_in"] != 1234
    before = _tokens(tenant)
    _elsewhere(tenant, access_token_lifetime=1234)
    assert client_credentials_token(tenant, client)["expires_in"] == 1234
    assert _tokens(tenant) == before + 1  # answered again: one token, not two
    assert _client_count(tenant, client) == 2  # and counted once


def test_a_quota_lowered_elsewhere_refuses_at_once(tenant):
    client = make_client(tenant)
    assert _issue(tenant, client).status_code == 200
    before = _tokens(tenant)
    _elsewhere(tenant, rate_limit_client_requests=1)
    response = _issue(tenant, client)
    assert response.status_code == 429, response.content
    assert "for this client" in response.json()["error_description"]
    assert _tokens(tenant) == before  # nothing written
    assert _client_count(tenant, client) == 1  # the refusal counted nothing


def test_a_quota_raised_elsewhere_lifts_a_refusal_at_once(tenant):
    client = make_client(tenant)
    _elsewhere(tenant, rate_limit_client_requests=1)
    assert _issue(tenant, client).status_code == 200
    assert _issue(tenant, client).status_code == 429
    _elsewhere(tenant, rate_limit_client_requests=100)
    # The refusal came from an aged policy: checked before it stands, found changed.
    assert _issue(tenant, client).status_code == 200
    assert _client_count(tenant, client) == 2


def test_an_error_answer_from_an_aged_policy_is_checked_once_and_stands(
    tenant, settings, django_assert_max_num_queries
):
    client = make_client(tenant)
    client_credentials_token(tenant, client)
    wrong = basic_auth(client.client_id, "not-the-secret")
    with django_assert_max_num_queries(3) as captured:
        response = token_request(tenant, CC, **wrong)
    assert response.status_code == 401
    versions = [q["sql"] for q in captured.captured_queries if "xmin" in q["sql"]]
    assert len(versions) == 1, versions  # one look at the policy row's version
    # Trusted afresh: with a short lifetime of 5 s the next error answer needs no look.
    settings.GATEHOUSE = {**settings.GATEHOUSE, "ISSUER_SETTINGS_CACHE_SECONDS": 5}
    with django_assert_max_num_queries(1) as captured:
        assert token_request(tenant, CC, **wrong).status_code == 401
    assert not any("xmin" in q["sql"] for q in captured.captured_queries)


def test_introspection_confirms_an_aged_policy_in_its_lookup(tenant, django_assert_max_num_queries):
    caller = make_client(tenant)
    token = client_credentials_token(tenant, caller)["access_token"]
    assert introspect(tenant, caller, token).json()["active"] is True
    policy, _ = _entry(tenant)
    with django_assert_max_num_queries(2) as captured:
        assert introspect(tenant, caller, token).json()["active"] is True
    sqls = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET")]
    assert len(sqls) == 1 and sqls[0].startswith("SELECT") and "xmin" in sqls[0], sqls
    assert _entry(tenant)[0] is policy


def test_an_introspection_quota_lowered_elsewhere_refuses_at_once(tenant):
    caller = make_client(tenant)
    token = client_credentials_token(tenant, caller)["access_token"]
    assert introspect(tenant, caller, token).status_code == 200
    _elsewhere(tenant, rate_limit_client_requests=1)
    response = introspect(tenant, caller, token)
    assert response.status_code == 429, response.content
    assert _client_count(tenant, caller, ratelimits.INTROSPECTION) == 1


def test_another_tenants_change_neither_drops_nor_changes_this_ones(tenant_a, tenant_b):
    a_client, b_client = make_client(tenant_a), make_client(tenant_b)
    client_credentials_token(tenant_a, a_client)
    b_lifetime = client_credentials_token(tenant_b, b_client)["expires_in"]
    b_policy, _ = _entry(tenant_b)
    _elsewhere(tenant_a, access_token_lifetime=b_lifetime + 77)
    # B's aged entry is confirmed against B's own row, A's change notwithstanding.
    assert client_credentials_token(tenant_b, b_client)["expires_in"] == b_lifetime
    assert _entry(tenant_b)[0] is b_policy
    assert client_credentials_token(tenant_a, a_client)["expires_in"] == b_lifetime + 77


def test_a_request_answered_again_keeps_one_row_per_answer_under_every_change(tenant):
    """Several changes in a row: each next answer reflects the latest, one token each."""
    client = make_client(tenant)
    client_credentials_token(tenant, client)
    for lifetime in (600, 700, 800):
        before = _tokens(tenant)
        _elsewhere(tenant, access_token_lifetime=lifetime)
        assert client_credentials_token(tenant, client)["expires_in"] == lifetime
        assert _tokens(tenant) == before + 1
