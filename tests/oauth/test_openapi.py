"""The OpenAPI 3.1 description (oauth/openapi/openapi.json) and schemathesis against a live
server: every documented operation fuzzed, zero 5xx, every answer as described.

Quick profile (CI, here): ``GATEHOUSE_FUZZ_EXAMPLES`` examples per operation (default 25),
a fixed seed (``derandomize``). Long profile, by hand::

    GATEHOUSE_FUZZ_EXAMPLES=1000 DATABASE_URL=... REDIS_URL=... \
        .venv/bin/python -m pytest -q tests/oauth/test_openapi.py -k fuzz
"""

from __future__ import annotations

import base64
import itertools
import os
import time
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode

from oauth.openapi import openapi_document
from tests.support.factories import make_client, make_user, make_web_client, user_tokens
from tests.support.secrets import remember_secret

FUZZ_EXAMPLES = int(os.environ.get("GATEHOUSE_FUZZ_EXAMPLES", "25"))
#: The quick profile fuzzes in about 30 s on a loaded 2-core machine (plus ~20 s to start
#: gunicorn and sign a user in); the bound is generous so that load never makes it flaky.
QUICK_BUDGET_SECONDS = 90
ISSUER_NOTE = "This tenant's issuer."


def test_the_source_is_a_valid_openapi_3_1_document():
    document = openapi_document(issuer="https://example.test")
    validate(document)  # raises on any violation of the 3.1 meta-schema
    assert document["openapi"].startswith("3.1.")
    assert document["servers"] == [
        {"url": "https://example.test", "description": "This tenant's issuer."}
    ]


@pytest.mark.django_db
def test_each_tenant_host_serves_it_with_its_own_issuer(tenant_a, tenant_b):
    for tenant in (tenant_a, tenant_b):
        response = tenant.client().get("/openapi.json")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response["Access-Control-Allow-Origin"] == "*"
        document = response.json()
        assert document["servers"] == [
            {"url": tenant.issuer, "description": "This tenant's issuer."}
        ]
        validate(document)


@pytest.mark.django_db
def test_every_endpoint_in_the_metadata_is_described(tenant_a):
    metadata = tenant_a.client().get("/.well-known/openid-configuration").json()
    paths = tenant_a.client().get("/openapi.json").json()["paths"]
    for name in (
        "token_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "pushed_authorization_request_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
        "device_authorization_endpoint",
    ):
        assert urlsplit(metadata[name]).path in paths, name
    for path in (
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/healthz",
        "/readyz",
        "/openapi.json",
    ):
        assert path in paths


@pytest.mark.django_db
def test_post_is_405_with_allow(tenant_a):
    response = tenant_a.client().post("/openapi.json")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"


# --- schemathesis against gunicorn -------------------------------------------------------------


@pytest.fixture
def fuzz_target(gatehouse_server, tenant_a, commit):
    """Tenant A's live description, and credentials the fuzzer uses for part of the cases."""
    with commit(tenant_a):
        client = make_client(tenant_a, name="Fuzz client", can_introspect=True)
        web = make_web_client(tenant_a, name="Fuzz web app")
        user = make_user(tenant_a, f"fuzz-{time.monotonic_ns()}")
        tokens = user_tokens(tenant_a, web, user, scope="openid profile")
    url = gatehouse_server.url(tenant_a.host, "/openapi.json")
    schema = schemathesis.openapi.from_url(url)
    assert schema.raw_schema["servers"][0]["url"] == gatehouse_server.issuer(tenant_a.host)
    basic = base64.b64encode(f"{client.client_id}:{client.secret}".encode()).decode()
    throwaway = requests.post(
        gatehouse_server.url(tenant_a.host, "/oauth/token"),
        data={"grant_type": "client_credentials"},
        auth=client.auth(),
        timeout=10,
    ).json()["access_token"]
    remember_secret(throwaway)
    return {
        "schema": schema,
        "basic": f"Basic {basic}",
        "bearer": f"Bearer {tokens['access_token']}",
        "tokens": [tokens["access_token"], tokens["refresh_token"], throwaway],
    }


#: ``positive_data_acceptance`` wants a schema-valid request to succeed; in OAuth a
#: well-formed request is still refused by protocol (``invalid_grant`` for an unknown code,
#: ``unauthorized_client`` for a grant the client may not use: RFC 6749 §5.2), and a
#: description cannot encode which codes exist. Every other default check runs.
EXCLUDED_CHECKS = [schemathesis.checks.positive_data_acceptance]

#: Kubernetes probes are answered by ``gatehouse.probes`` before routing, for any method.
PROBES = {"/healthz", "/readyz"}

CLIENT_AUTH_PATHS = {
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/device_authorization",
    "/oauth/par",
}


#: Authorization headers a careless or hostile client sends.
GARBAGE_AUTHORIZATION = [
    "Basic !!!not-base64",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(),
    "Basic " + base64.b64encode(b"%zz:%00").decode(),
    "Bearer",
    "Bearer a b",
    "Digest x" * 200,
]


def _has_inputs(operation) -> bool:
    return bool(list(operation.iter_parameters())) or bool(list(operation.body))


def _with_credentials(case, target, turn: int) -> None:
    """Every other case carries valid credentials (and every fourth a real token), so the
    fuzzer reaches past client authentication; one in four sends a garbage Authorization
    header; the rest stay anonymous."""
    path = case.operation.path
    headers = dict(case.headers or {})
    if turn % 4 == 1:
        headers["Authorization"] = GARBAGE_AUTHORIZATION[turn // 4 % len(GARBAGE_AUTHORIZATION)]
        case.headers = headers
        return
    if turn % 2:
        return
    if path in CLIENT_AUTH_PATHS:
        headers["Authorization"] = target["basic"]
        if path != "/oauth/token" and isinstance(case.body, dict) and turn % 4 == 0:
            case.body = {**case.body, "token": target["tokens"][turn // 4 % 3]}
    elif path == "/oauth/userinfo":
        headers["Authorization"] = target["bearer"]
    case.headers = headers


@pytest.mark.live
def test_undocumented_methods_are_405_with_allow(gatehouse_server, tenant_a):
    """What schemathesis' generation never sends: methods the description does not list."""
    document = requests.get(gatehouse_server.url(tenant_a.host, "/openapi.json"), timeout=10)
    for path, item in document.json()["paths"].items():
        if path in PROBES:
            continue
        for method in ("PUT", "DELETE", "PATCH"):
            if method.lower() in item:
                continue  # RFC 7592 management takes PUT and DELETE
            response = requests.request(
                method, gatehouse_server.url(tenant_a.host, path), timeout=10
            )
            assert response.status_code == 405, (method, path, response.status_code)
            assert "Allow" in response.headers, (method, path)


def _check(case, target, turn: int, by_status: dict[int, int]) -> None:
    _with_credentials(case, target, turn)
    response = case.call_and_validate(timeout=10, excluded_checks=EXCLUDED_CHECKS)
    by_status[response.status_code] = by_status.get(response.status_code, 0) + 1
    assert response.status_code < 500, response.text


@pytest.mark.live
def test_fuzz(fuzz_target):
    """Each operation: schemathesis' coverage cases (boundaries, missing and duplicated
    parameters, unexpected methods), then Hypothesis-generated positive and negative data.
    Default checks: no 5xx, status code and content type documented, body and headers as
    described, an undocumented method a 405 with ``Allow``."""
    schema = fuzz_target["schema"]
    turn = itertools.count()
    by_status: dict[int, int] = {}
    failures: list[str] = []
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    for operation in operations:
        cases = schema.iter_coverage_cases(
            operation,
            generation_modes=list(GenerationMode),
            generation_config=schema.config.generation_for(operation=operation),
        )
        for case in cases:
            if operation.path in PROBES and case.method != operation.method.upper():
                continue  # probes answer any method, ahead of routing (see PROBES)
            try:
                _check(case, fuzz_target, next(turn), by_status)
            except (Exception, BaseExceptionGroup) as error:
                failures.append(f"{operation.label} coverage {case.method}: {error}")
    coverage = sum(by_status.values())
    for operation, mode in itertools.product(operations, GenerationMode):
        if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
            continue  # nothing to break: no parameters, no body

        @settings(
            max_examples=FUZZ_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            _check(case, fuzz_target, next(turn), by_status)

        try:
            run()
        except (Exception, BaseExceptionGroup) as error:  # one failure must not hide others
            failures.append(f"{operation.label} ({mode}): {error}")
    elapsed = time.monotonic() - started
    print(
        f"\nfuzz: {sum(by_status.values())} cases ({coverage} coverage) in {elapsed:.1f} s, "
        f"by status {dict(sorted(by_status.items()))}"
    )
    assert not failures, "\n\n".join(failures)
    assert coverage >= len(operations)
    if FUZZ_EXAMPLES <= 50:
        assert elapsed < QUICK_BUDGET_SECONDS
