"""Helpers for account tests: links out of mails, and the self-service mail throttles."""

from __future__ import annotations

import re

from django.core.cache import caches

from tests.support.secrets import remember_secret

RESET_LINK = re.compile(r"(https?://[^/\s]+)/account/reset/([A-Za-z0-9_-]+)/")
VERIFY_LINK = re.compile(r"(https?://[^/\s]+)/account/verify/([A-Za-z0-9_-]+)/")


def clear_account_mail_counters() -> None:
    """Forget every ``kernel.accounts.throttle`` count (all tenants)."""
    client = caches["default"]._cache.get_client(write=True)
    names = list(client.scan_iter(match="*ratelimit:account-mail*", count=1000))
    if names:
        client.delete(*names)


def link_token(mail, pattern=RESET_LINK) -> str:
    """The token of the link in ``mail``'s text part (remembered as a secret)."""
    found = pattern.search(mail.body)
    assert found, mail.body
    return remember_secret(found.group(2))
