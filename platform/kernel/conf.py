"""Gatehouse's settings namespace (``settings.GATEHOUSE``), read lazily, with every default
declared once, here.

Settings modules fill ``GATEHOUSE`` from the environment (``kernel.env``), using these
defaults for variables that are not set; code reads a value with ``setting(name)``, which
falls back to the same defaults when a settings module leaves a key out (tests do).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Scheme and port of public URLs printed outside a request (CLI, run command).
    "PUBLIC_SCHEME": "https",
    "PUBLIC_PORT": 0,
    # How long a process trusts its cached Host -> tenant answer (seconds).
    "TENANT_CACHE_SECONDS": 5,
    # How long a process trusts a tenant's cached issuer policy (seconds).
    "ISSUER_SETTINGS_CACHE_SECONDS": 5,
    # How long it keeps one for the requests that confirm the policy they used in their own
    # statement (client_credentials, introspection: oauth.selectors.confirmed_issuer_policy),
    # so the lifetime bounds memory, not staleness, as for clients.
    "ISSUER_SETTINGS_CONFIRMED_CACHE_SECONDS": 600,
    # Clients kept in each process for the client-credentials path, which confirms the row
    # unchanged in the INSERT that issues the token (oauth.selectors.client_by_client_id),
    # so the lifetime bounds memory, not staleness: with 1,000 tenants hit at random, 60 s
    # let most entries lapse between a tenant's requests to one process. 0 turns it off.
    "CLIENT_CACHE_SECONDS": 600,
    # How long token and code rows outlive their last expiry, for replay and reuse detection.
    "TOKEN_RETENTION_SECONDS": 86400,
    # How long a pushed authorization request's request_uri stays usable (RFC 9126 §2.2).
    "PAR_LIFETIME_SECONDS": 60,
    # GATEHOUSE_KEY_ENCRYPTION_KEY: comma-separated, newest first.
    "KEY_ENCRYPTION_KEYS": [],
    # Celery beat intervals (seconds) and worker behaviour (workers/app.py, workers/purge.py).
    "PURGE_INTERVAL_SECONDS": 300,
    "PURGE_BACKLOG_INTERVAL_SECONDS": 60,
    "KEY_ROTATION_CHECK_SECONDS": 3600,
    # How often workers count each tenant's users and clients for the operators' list.
    "TENANT_USAGE_INTERVAL_SECONDS": 900,
    # How often workers look in every tenant for back-channel logout tokens whose message
    # never reached the broker, or was lost (oauth.backchannel, workers.tasks).
    "BACKCHANNEL_LOGOUT_SWEEP_INTERVAL_SECONDS": 60,
    "WORKER_NICENESS": 10,
    "PURGE_BUSY_ROWS_PER_SECOND": 10_000,
    # Per-tenant metric labels: opted-in slugs, and the top N tenants by purge backlog.
    "METRICS_TENANTS": [],
    "METRICS_TOP_TENANTS": 10,
    # Reverse proxies in front of gunicorn that append to X-Forwarded-For.
    "TRUSTED_PROXY_COUNT": 0,
    # Sign-in attempts per window (oauth.throttle): per (user name, IP) the hard limit; per
    # user name from anywhere a soft one, past which one attempt per USER_SLOW_SECONDS; per
    # client IP in a tenant, and per client IP across every tenant.
    "LOGIN_THROTTLE": {
        "USER_IP_ATTEMPTS": 5,
        "USER_ATTEMPTS": 10,
        "USER_SLOW_SECONDS": 10,
        "IP_ATTEMPTS": 20,
        "PLATFORM_IP_ATTEMPTS": 100,
        "WINDOW_SECONDS": 300,
    },
    # Second factors (oauth.mfa): wrong codes accepted per user in each window before the
    # second-factor page answers 429, and how long a password stays good for the second step.
    "MFA": {"ATTEMPTS": 5, "WINDOW_SECONDS": 300, "PENDING_SECONDS": 300},
    # Failed operators' sign-ins per client IP and per user name in each window
    # (tenants.console).
    "OPERATOR_SIGN_IN_THROTTLE": {"ATTEMPTS": 10, "WINDOW_SECONDS": 900},
    # Operators sign in with a password and a TOTP code; one without an authenticator app
    # enrols one right after the password (tenants.console.views.access).
    "OPERATOR_TOTP_REQUIRED": True,
    # OAuth endpoint limits (oauth.ratelimits): token, introspection, revocation and userinfo
    # each count on their own. Per WINDOW_SECONDS: answers that succeeded per client and per
    # tenant, requests per source IP; per FAILURE_WINDOW_SECONDS: failed client (or bearer)
    # authentications per source IP and per presented client_id from one IP. A tenant's
    # IssuerSettings may override each number; ENABLED=False turns every limit off.
    "RATE_LIMITS": {
        "ENABLED": True,
        "WINDOW_SECONDS": 60,
        "CLIENT_REQUESTS": 3_000,
        "TENANT_REQUESTS": 30_000,
        "IP_REQUESTS": 6_000,
        "FAILURE_WINDOW_SECONDS": 300,
        "IP_AUTH_FAILURES": 100,
        "CLIENT_IP_AUTH_FAILURES": 20,
    },
    # The device authorization grant (oauth.device, RFC 8628): how long a device code and
    # its user code live, the polling interval a device starts with (slow_down adds 5 s),
    # and wrong user codes accepted per window per client IP and per tenant (§5.1).
    "DEVICE_FLOW": {
        "LIFETIME_SECONDS": 600,
        "INTERVAL_SECONDS": 5,
        "IP_GUESSES": 10,
        "TENANT_GUESSES": 200,
        "WINDOW_SECONDS": 300,
    },
    # Self-service account mails (password reset, email verification again): requests per
    # client IP and per target address (or user name) in each window (kernel.accounts).
    "ACCOUNT_MAIL_THROTTLE": {"IP_REQUESTS": 10, "ADDRESS_REQUESTS": 3, "WINDOW_SECONDS": 3600},
    # Fetching documents other servers host (oauth.fetch): Client ID Metadata Documents,
    # and later clients' jwks_uri. https only; ALLOW_LOOPBACK lets documents be served from
    # 127.0.0.1/::1 (development and tests only: never in production); CA_BUNDLE "" trusts
    # the system's CAs. Answers are cached per their Cache-Control, between the floor and
    # the ceiling; failures for the floor.
    "DOCUMENT_FETCH": {
        "ALLOW_LOOPBACK": False,
        "CA_BUNDLE": "",
        "MAX_BYTES": 16_384,
        "TIMEOUT_SECONDS": 3.0,
        "CACHE_FLOOR_SECONDS": 60,
        "CACHE_CEILING_SECONDS": 86_400,
    },
    # OIDC Back-Channel Logout delivery (oauth.backchannel, workers.tasks): attempts in all,
    # the first retry's delay (doubling each time, up to the maximum), the POST's timeout and
    # the logout token's lifetime (seconds). Every token owed is a row (the outbox): the
    # sweep enqueues pending rows overdue by SWEEP_GRACE_SECONDS, at most SWEEP_BATCH per
    # tenant and run; the purge deletes finished rows RETENTION_SECONDS after they finished
    # and gives up on rows still pending MAX_PENDING_SECONDS after the sign-out (a broker
    # or a client away that long), auditing them as failed.
    "BACKCHANNEL_LOGOUT": {
        "ATTEMPTS": 6,
        "RETRY_BASE_SECONDS": 10,
        "RETRY_MAX_SECONDS": 900,
        "TIMEOUT_SECONDS": 5.0,
        "TOKEN_LIFETIME_SECONDS": 120,
        "SWEEP_GRACE_SECONDS": 60,
        "SWEEP_BATCH": 500,
        "RETENTION_SECONDS": 7 * 86400,
        "MAX_PENDING_SECONDS": 86400,
    },
    # Signups one client IP may make per window (tenants.views).
    "SIGNUP_THROTTLE": {"ATTEMPTS": 5, "WINDOW_SECONDS": 3600},
    # Slugs no tenant may take: they name the platform's own hosts and paths.
    # The plan (tenants.Plan slug) a new tenant gets when provisioning names none; "" or a
    # slug with no plan: none (the platform's default quotas).
    "DEFAULT_PLAN": "",
    "RESERVED_SLUGS": [
        "www",
        "admin",
        "api",
        "app",
        "auth",
        "public",
        "static",
        "media",
        "mail",
        "smtp",
        "status",
        "metrics",
        "health",
        "signup",
        "login",
        "console",
        "docs",
        "help",
        "support",
        "billing",
        "root",
        "system",
        "gatehouse",
        "oauth",
        "id",
        "sso",
        "information-schema",
    ],
}


def setting(name: str) -> Any:
    """``settings.GATEHOUSE[name]``, or its default. Dict-valued settings are merged over
    their defaults key by key, so overriding one limit keeps the others."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown Gatehouse setting {name!r}")
    value = getattr(settings, "GATEHOUSE", {}).get(name, DEFAULTS[name])
    default = DEFAULTS[name]
    if isinstance(default, dict) and isinstance(value, dict):
        return {**default, **value}
    return value
