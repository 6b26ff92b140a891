"""Writes to the tenant's issuer policy (``IssuerSettings``)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from kernel.audit.services import audit_record, diff
from oauth import selectors
from oauth.models import Client, IssuerSettings, SigningKey
from oauth.signing.services import signing_keys_ensure

#: What an admin may change; the rest of the row is bookkeeping (``jwks_first_served_at``).
EDITABLE = (
    "access_token_lifetime",
    "refresh_token_lifetime",
    "authorization_code_lifetime",
    "refresh_reuse_window",
    "default_resource",
    "signing_key_rotation_days",
    "jwks_max_age",
    "default_access_token_format",
    "scopes_supported",
    "require_pushed_authorization_requests",
    "dpop_nonce_required",
    "security_profile",
)


#: The audit log drops values under secret-looking names ("token", "code"); these are not
#: secrets, so the diff names them without those words.
_AUDIT_NAMES = {
    "access_token_lifetime": "access_lifetime",
    "refresh_token_lifetime": "refresh_lifetime",
    "authorization_code_lifetime": "authorization_grant_lifetime",
    "default_access_token_format": "default_access_format",
}


def _snapshot(row: IssuerSettings) -> dict:
    return {_AUDIT_NAMES.get(name, name): getattr(row, name) for name in EDITABLE}


@transaction.atomic
def issuer_settings_update(**fields: int | str | list[str]) -> IssuerSettings:
    """Change this tenant's issuer policy (lifetimes, refresh reuse window, scopes, ...).

    Audited as ``settings.updated`` with the diff; a call that changes nothing writes
    nothing.
    """
    row = IssuerSettings.load()
    row = IssuerSettings.objects.select_for_update().get(pk=row.pk)
    before = _snapshot(row)
    old_max_age = row.jwks_max_age
    for name, value in fields.items():
        if name not in EDITABLE:
            raise ValueError(f"unknown issuer setting {name!r}")
        setattr(row, name, value)
    row.full_clean()
    changes = diff(before, _snapshot(row))
    if not changes:
        selectors.clear_issuer_policy_cache()
        return row
    row.save()
    if row.security_profile == Client.SecurityProfile.FAPI2:
        signing_keys_ensure(alg=SigningKey.Alg.PS256)  # FAPI 2.0 §5.4.1: published ahead
    if row.jwks_max_age < old_max_age:
        # JWKS already served promised old_max_age: a next key may be promoted only once
        # every such cached copy has expired (rotate waits jwks_max_age after published_at).
        floor = timezone.now() + timedelta(seconds=old_max_age - row.jwks_max_age)
        SigningKey.objects.filter(state=SigningKey.State.NEXT, published_at__lt=floor).update(
            published_at=floor
        )
    audit_record(
        action="settings.updated",
        object_type="issuer_settings",
        object_id=str(row.pk),
        object_label="Tenant settings",
        changes=changes,
    )
    selectors.clear_issuer_policy_cache()
    return row
