"""System checks of the oauth app (Django's check framework), registered by ``OauthConfig``.

They run with every manage.py command (``check --deploy``, ``migrate_schemas``, the servers),
so a process with unusable configuration refuses to start instead of failing on first use.
"""

from __future__ import annotations

from django.core import checks

from kernel.conf import setting
from oauth.backchannel.backoff import retrying_seconds
from oauth.signing.encryption import key_encryption_errors


def check_key_encryption_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``oauth.E001``: GATEHOUSE_KEY_ENCRYPTION_KEY is missing or has a too-short entry."""
    return [checks.Error(message, id="oauth.E001") for message in key_encryption_errors()]


def check_document_fetch(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``oauth.E002`` (``check --deploy``): the fetcher may reach loopback, which only
    development and tests may allow: in production a client's metadata document URL would
    then reach services on the server's own host (oauth.fetch)."""
    if setting("DOCUMENT_FETCH")["ALLOW_LOOPBACK"]:
        return [
            checks.Error(
                "GATEHOUSE_DOCUMENT_FETCH_ALLOW_LOOPBACK is on: client metadata documents may "
                "be fetched from this host's loopback services; turn it off in production",
                id="oauth.E002",
            )
        ]
    return []


def check_backchannel_logout_outbox(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``oauth.E003``: the purge would give up on back-channel logout tokens that are still
    being retried: ``MAX_PENDING_SECONDS`` is no longer than the retries take, plus the
    sweep's grace and interval (a lost retry waits for the sweep)."""
    options = setting("BACKCHANNEL_LOGOUT")
    needed = (
        retrying_seconds()
        + int(options["SWEEP_GRACE_SECONDS"])
        + int(setting("BACKCHANNEL_LOGOUT_SWEEP_INTERVAL_SECONDS"))
    )
    if int(options["MAX_PENDING_SECONDS"]) > needed:
        return []
    return [
        checks.Error(
            f"GATEHOUSE_BACKCHANNEL_LOGOUT_MAX_PENDING_SECONDS ({options['MAX_PENDING_SECONDS']})"
            f" must be more than the {needed} s that logout tokens may still be retried for "
            "(the back-off between ATTEMPTS, then the sweep's grace and interval): raise it, "
            "or lower ATTEMPTS or RETRY_MAX_SECONDS",
            id="oauth.E003",
        )
    ]
