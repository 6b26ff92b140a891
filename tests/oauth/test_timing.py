"""Issue 15 item 7: secrets compared in constant time; the login page answers the same, in
similar time, whether or not the user exists.

A test cannot see that a comparison is constant-time, so ``test_no_equality_on_secrets``
checks the property statically: no ``==`` / ``!=`` / ``in`` in ``oauth``, ``kernel`` or
``tenants`` between two non-literal values named like a secret. Stored secrets are
SHA-256 digests looked up by index (``kernel.credentials.digest``): the attacker's timing
then depends on the digest of their guess, which they cannot steer towards a stored one
(preimage resistance), so it reveals nothing. Client secrets, which are looked up by
``client_id``, are compared with ``hmac.compare_digest`` (``kernel.credentials.matches``).
"""

from __future__ import annotations

import ast
import re
import statistics
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import override_settings

from gatehouse.settings.base import PASSWORD_HASHERS as PRODUCTION_HASHERS
from tests.support.factories import make_user, post_form

REPO = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"secret|digest|password|verifier|challenge|nonce|token|code|hash", re.I)
#: Reviewed comparisons that touch no secret value (names matched, values public).
REVIEWED = {
    # an enum of formats, not a token
    "client.access_token_format == Client.AccessTokenFormat.JWT",
    # public auth-method names
    "method == self.token_endpoint_auth_method",
    "method in secret_methods",
    # registered metadata against an enum of public values
    "self.access_token_format not in Client.AccessTokenFormat.values",
    "self.id_token_signed_response_alg not in SigningKey.Alg.values",
    # public auth-method names, algs and profile values (client assertions, RFC 7523)
    "method == SECRET_JWT",
    "self.CLIENT_AUTH_METHOD == SECRET_JWT",
    "alg not in SECRET_JWT_ALGS",
    "self.auth_method not in TOKEN_ENDPOINT_AUTH_METHODS",
    "auth_method not in TOKEN_ENDPOINT_AUTH_METHODS",
    "self.token_endpoint_auth_method == self.AuthMethod.PRIVATE_KEY_JWT",
    "metadata.auth_method != Client.AuthMethod.SECRET_JWT",
    "method != Client.AuthMethod.SECRET_JWT",
    "client.id_token_signed_response_alg == SigningKey.Alg.PS256",
    # two fields the same user typed into one form (password and confirmation)
    "data['password'] != data['confirm']",
    # public identifiers: auth-method names, grant and token type URNs (RFC 8693 §3)
    "TOKEN_EXCHANGE in self.grant_types",
    "TOKEN_EXCHANGE not in self.grant_types",
    "token_type not in ACCEPTED_TOKEN_TYPES",
    "requested not in ISSUED_TOKEN_TYPES",
    "token_type not in _READERS",
}
#: Tries per user in the login timing test; medians of interleaved runs.
TRIES = 11


def _name(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
        return _name(node.value)
    if isinstance(node, ast.Call):
        return _name(node.func)
    return None


def _equality_on_secrets(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
            continue
        sides = [node.left, *node.comparators]
        if any(isinstance(side, ast.Constant | ast.Tuple | ast.Set | ast.List) for side in sides):
            continue  # against a literal: the literal is public
        if any((name := _name(side)) and SECRET_NAME.search(name) for side in sides):
            found.append(ast.unparse(node))
    return found


def test_the_static_check_catches_an_equality_on_a_secret():
    assert _equality_on_secrets("ok = client.secret_digest == digest(value)")
    assert _equality_on_secrets("ok = token != stored")
    assert not _equality_on_secrets("ok = hmac.compare_digest(digest(value), stored)")
    assert not _equality_on_secrets("ok = grant_type == 'refresh_token'")


def test_no_equality_on_secrets():
    """Every comparison of secret-named values in the product is constant-time or reviewed."""
    offenders = []
    for root in ("oauth", "platform/kernel", "tenants"):
        for path in sorted((REPO / root).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for expression in _equality_on_secrets(path.read_text(encoding="utf-8")):
                if expression not in REVIEWED:
                    offenders.append(f"{path.relative_to(REPO)}: {expression}")
    assert not offenders, "compare secrets with hmac.compare_digest:\n" + "\n".join(offenders)


def _normalised(response, username: str) -> bytes:
    body = response.content.replace(username.encode(), b"USERNAME")
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"CSRF", body)


@pytest.mark.django_db
def test_login_answers_alike_for_known_and_unknown_users(tenant_a, settings, capsys):
    """With the production hashers (Argon2 first): Django's ModelBackend hashes the password
    for an unknown user too, so a wrong password for a real user and any password for a
    user that does not exist take about as long, and get the same page and status."""
    settings.GATEHOUSE = {
        **settings.GATEHOUSE,
        "LOGIN_THROTTLE": {
            "USER_IP_ATTEMPTS": 1000,
            "USER_ATTEMPTS": 1000,
            "IP_ATTEMPTS": 1000,
            "PLATFORM_IP_ATTEMPTS": 1000,
        },
    }
    with override_settings(PASSWORD_HASHERS=PRODUCTION_HASHERS):
        assert django_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
        user = make_user(tenant_a, "timing-known")
        with tenant_a.context():
            assert get_user_model().objects.get(pk=user.pk).password.startswith("argon2")
        web = tenant_a.client()
        times: dict[str, list[float]] = {"known": [], "unknown": []}
        pages: dict[str, set[bytes]] = {"known": set(), "unknown": set()}
        statuses: dict[str, set[int]] = {"known": set(), "unknown": set()}
        names = {"known": "timing-known", "unknown": "timing-ghost"}
        for attempt in range(TRIES + 1):
            for kind in ("known", "unknown") if attempt % 2 else ("unknown", "known"):
                started = time.perf_counter()
                response = post_form(
                    web,
                    "/oauth/login",
                    {"username": names[kind], "password": "not-the-password-1"},
                    REMOTE_ADDR="10.20.30.40",
                )
                elapsed = time.perf_counter() - started
                if attempt:  # the first round warms caches and connections
                    times[kind].append(elapsed)
                statuses[kind].add(response.status_code)
                pages[kind].add(_normalised(response, names[kind]))
    known, unknown = (statistics.median(times[k]) for k in ("known", "unknown"))
    ratio = known / unknown
    with capsys.disabled():
        print(
            f"\nlogin timing (Argon2, {TRIES} tries each): known user {known * 1000:.1f} ms, "
            f"unknown user {unknown * 1000:.1f} ms, ratio {ratio:.2f}"
        )
    assert statuses == {"known": {400}, "unknown": {400}}
    assert pages["known"] == pages["unknown"] and len(pages["known"]) == 1
    assert known > 0.005  # Argon2 really ran (MD5 would take microseconds)
    assert 0.5 <= ratio <= 2.0
