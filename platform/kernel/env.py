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


#: ``EMAIL_URL`` schemes we accept, on top of django-environ's (smtp, smtps, smtp+tls,
#: smtp+ssl), for the two development backends.
_MAIL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
}
_SMTP_SCHEMES = {"smtp", "smtps", "smtp+tls", "smtp+ssl"}


def email(name: str = "EMAIL_URL", default=_MISSING) -> dict:
    """One Django ``MAILERS`` entry from a URL: ``smtp://user:password@host:587?tls=1``
    (STARTTLS), ``smtp+ssl://...:465`` (implicit TLS), ``smtp+tls://`` (STARTTLS),
    ``console://`` (printed) or ``file:///var/mail/gatehouse`` (one file per message).
    Percent-encode ``@``, ``:`` and ``/`` in the user name or password. ``timeout=N`` in
    the query sets the SMTP timeout (default 10 s)."""
    value = _raw(name, default).strip()
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme in _MAIL_BACKENDS:
        mailer = {"BACKEND": _MAIL_BACKENDS[scheme]}
        if scheme == "file":
            if parts.netloc or not parts.path.startswith("/"):
                raise ConfigError(name, "must name an absolute folder: file:///var/mail/x")
            mailer["OPTIONS"] = {"file_path": parts.path}
        return mailer
    if scheme not in _SMTP_SCHEMES or not parts.hostname:
        raise ConfigError(
            name, "must look like smtp://user:password@host:587?tls=1, console:// or file:///dir"
        )
    try:
        config = environ.Env.email_url_config(value)
    except Exception as exc:  # django-environ raises several types for bad URLs
        raise ConfigError(name, f"is malformed ({exc.__class__.__name__})") from None
    query = {key.lower(): val for key, val in config.get("OPTIONS", {}).items()}
    use_ssl = bool(config.get("EMAIL_USE_SSL")) or str(query.get("ssl", "")) in {"1", "true"}
    use_tls = bool(config.get("EMAIL_USE_TLS")) or str(query.get("tls", "")) in {"1", "true"}
    if use_ssl and use_tls:
        raise ConfigError(name, "cannot ask for both implicit TLS (ssl) and STARTTLS (tls)")
    try:
        timeout = int(query.get("timeout", 10))
    except ValueError:
        raise ConfigError(name, "timeout must be a number of seconds") from None
    return {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": config["EMAIL_HOST"],
            "port": int(config.get("EMAIL_PORT") or (465 if use_ssl else 25)),
            "username": config.get("EMAIL_HOST_USER") or "",
            "password": config.get("EMAIL_HOST_PASSWORD") or "",
            "use_tls": use_tls,
            "use_ssl": use_ssl,
            "timeout": timeout,
        },
    }
