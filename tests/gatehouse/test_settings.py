"""Configuration from the environment: one-line errors, and a clean `check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOOD = {
    "DJANGO_SETTINGS_MODULE": "gatehouse.settings.production",
    "DATABASE_URL": "postgres://gatehouse:pw@db.internal:5432/gatehouse",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "SECRET_KEY": "q8#v2Lr!x0Pz7mN4bT6yW1eK9hJ3sD5fG8aQ2wE4rT6yU8iO0pZ",
    "GATEHOUSE_BASE_DOMAIN": "auth.example.com",
    "GATEHOUSE_KEY_ENCRYPTION_KEY": "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5PQ==",
}


def _check(env_overrides: dict, *args: str):
    env = {k: v for k, v in os.environ.items() if k not in GOOD and k != "DEBUG"}
    env.update(GOOD)
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_check_deploy_is_clean():
    result = _check({}, "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SECRET_KEY", None, "SECRET_KEY is required"),
        ("SECRET_KEY", "short", "SECRET_KEY must be a random string"),
        ("DATABASE_URL", None, "DATABASE_URL is required"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL must look like postgres://"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must look like redis://"),
        ("GATEHOUSE_BASE_DOMAIN", None, "GATEHOUSE_BASE_DOMAIN is required"),
        ("GATEHOUSE_BASE_DOMAIN", "not a host", "GATEHOUSE_BASE_DOMAIN must be a DNS name"),
        ("GATEHOUSE_KEY_ENCRYPTION_KEY", None, "GATEHOUSE_KEY_ENCRYPTION_KEY is required"),
        ("DEBUG", "maybe", "DEBUG must be true or false"),
        (
            "DATABASE_POOL_MODE",
            "statement",
            "DATABASE_POOL_MODE must be one of session, transaction, got 'statement'",
        ),
    ],
)
def test_missing_or_malformed_variable_stops_with_one_line(name, value, says):
    result = _check({name: value})
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert says in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("value", "engine", "pool_mode"),
    [
        (None, "tenants.postgresql_backend", "session"),
        ("Transaction", "tenants.postgresql_backend", "transaction"),
    ],
)
def test_database_pool_mode_reaches_the_backend(value, engine, pool_mode):
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            "from django.db import connection as c; print(c.settings_dict['ENGINE'], c.pool_mode)",
        ],
        cwd=REPO,
        env={
            **{k: v for k, v in os.environ.items() if k != "DATABASE_POOL_MODE"},
            **GOOD,
            **({"DATABASE_POOL_MODE": value} if value else {}),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [engine, pool_mode]


def test_debug_is_off_unless_set():
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            "from django.conf import settings as s; print(s.DEBUG, s.SESSION_COOKIE_NAME,"
            " s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_DOMAIN, s.CSRF_TRUSTED_ORIGINS)",
        ],
        cwd=REPO,
        env={**{k: v for k, v in os.environ.items() if k != "DEBUG"}, **GOOD},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [
        "False",
        "__Host-gh_session",
        "__Host-gh_csrf",
        "None",
        "[]",
    ]
