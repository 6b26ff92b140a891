"""System checks of the oauth app (Django's check framework), registered by ``OauthConfig``.

They run with every manage.py command (``check --deploy``, ``migrate_schemas``, the servers),
so a process with unusable configuration refuses to start instead of failing on first use.
"""

from __future__ import annotations

from django.core import checks

from oauth.signing.encryption import key_encryption_errors


def check_key_encryption_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``oauth.E001``: GATEHOUSE_KEY_ENCRYPTION_KEY is missing or has a too-short entry."""
    return [checks.Error(message, id="oauth.E001") for message in key_encryption_errors()]
