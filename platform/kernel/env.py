"""Reads the process environment: the one place configuration comes from (12-factor).

Every setting an operator can give is read here and nowhere else. A missing or malformed
required variable stops start-up with one line naming it (``SystemExit``), not a traceback.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

import environ

_HOST_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_MISSING = object()


class ConfigError(SystemExit):
    """Raised on a bad environment; its message is the single line the operator sees."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"gatehouse: configuration error: {name} {problem}")


def _raw(name: str, default):
    value = os.environ.get(name)
    if value is None or value == "":
        if default is _MISSING:
            raise ConfigError(name, "is required but not set")
        return default
    return value


def string(name: str, default=_MISSING) -> str:
    return _raw(name, default)


def boolean(name: str, default: bool = False) -> bool:
    value = _raw(name, None)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(name, f"must be true or false, got {value!r}")


def integer(name: str, default=_MISSING, *, minimum: int | None = None) -> int:
    value = _raw(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(name, f"must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ConfigError(name, f"must be >= {minimum}, got {number}")
    return number


def choice(name: str, choices: tuple[str, ...], default=_MISSING) -> str:
    value = _raw(name, default).strip().lower()
    if value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def string_list(name: str, default: list[str] | None = None) -> list[str]:
    value = _raw(name, None)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def database(name: str = "DATABASE_URL", default=_MISSING) -> dict:
    value = _raw(name, default)
    parts = urlsplit(value)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"} or not parts.path.strip("/"):
        raise ConfigError(name, "must look like postgres://user:password@host:5432/dbname")
    try:
        config = environ.Env.db_url_config(value)
    except Exception as exc:  # django-environ raises several types for bad URLs
        raise ConfigError(name, f"is malformed ({exc.__class__.__name__})") from None
    # django-tenants' backend (search_path per tenant), safe behind a transaction pooler when
    # POOL_MODE says so (tenants/postgresql_backend).
    config["ENGINE"] = "tenants.postgresql_backend"
    return config


def redis_url(name: str = "REDIS_URL", default=_MISSING) -> str:
    value = _raw(name, default)
    parts = urlsplit(value)
    if parts.scheme not in {"redis", "rediss", "unix"} or (
        parts.scheme != "unix" and not parts.hostname
    ):
        raise ConfigError(name, "must look like redis://host:6379/0")
    return value


def hostname(name: str, default=_MISSING) -> str:
    value = _raw(name, default).strip().lower()
    if value != "localhost" and not _HOST_RE.match(value):
        raise ConfigError(name, f"must be a DNS name such as auth.example.com, got {value!r}")
    return value


def secret_key(name: str = "SECRET_KEY", default=_MISSING, *, min_length: int = 0) -> str:
    value = _raw(name, default)
    if len(value) < min_length or len(set(value)) < 5:
        raise ConfigError(name, f"must be a random string of at least {min_length} characters")
    return value
