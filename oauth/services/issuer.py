"""Writes to the tenant's issuer policy (``IssuerSettings``)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from oauth import selectors
from oauth.models import IssuerSettings, SigningKey


@transaction.atomic
def issuer_settings_update(**fields: int | str) -> IssuerSettings:
    """Change this tenant's issuer policy (lifetimes, refresh reuse window, ...)."""
    row = IssuerSettings.load()
    old_max_age = row.jwks_max_age
    for name, value in fields.items():
        if not hasattr(row, name) or name == "id":
            raise ValueError(f"unknown issuer setting {name!r}")
        setattr(row, name, value)
    row.full_clean()
    row.save()
    if row.jwks_max_age < old_max_age:
        # JWKS already served promised old_max_age: a next key may be promoted only once
        # every such cached copy has expired (rotate waits jwks_max_age after published_at).
        floor = timezone.now() + timedelta(seconds=old_max_age - row.jwks_max_age)
        SigningKey.objects.filter(state=SigningKey.State.NEXT, published_at__lt=floor).update(
            published_at=floor
        )
    selectors.clear_issuer_policy_cache()
    return row
