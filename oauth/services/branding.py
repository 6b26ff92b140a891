"""Writes to the tenant's branding (display name, primary colour, logo)."""

from __future__ import annotations

import hashlib

from django.db import transaction

from kernel.audit.services import audit_record, diff
from kernel.errors import DomainError
from oauth import selectors
from oauth.branding import LOGO_MAX_BYTES, logo_content_type
from oauth.models import Branding


class BrandingError(DomainError):
    """A logo or colour that cannot be used; the message says what to upload instead."""


def _snapshot(row: Branding) -> dict:
    logo = (
        f"{row.logo_content_type}, {len(row.logo)} bytes, sha256 {row.logo_sha256[:16]}"
        if row.logo_sha256
        else ""
    )
    return {
        "display_name": row.display_name,
        "primary_colour": row.primary_colour,
        "logo": logo,
    }


@transaction.atomic
def branding_update(
    *,
    display_name: str,
    primary_colour: str,
    logo: bytes | None = None,
    remove_logo: bool = False,
) -> Branding:
    """Set this tenant's branding; ``logo`` None keeps the current one.

    The logo must be a PNG, JPEG or WebP (by its bytes) of at most ``LOGO_MAX_BYTES``.
    Audited as ``branding.updated`` with the diff (the logo by type, size and digest).
    """
    row = Branding.load()
    row = Branding.objects.select_for_update().get(pk=row.pk)
    before = _snapshot(row)
    row.display_name = display_name.strip()
    row.primary_colour = primary_colour.strip().lower()
    if logo is not None:
        if len(logo) > LOGO_MAX_BYTES:
            raise BrandingError(f"The logo may be at most {LOGO_MAX_BYTES // 1024} KB.")
        content_type = logo_content_type(logo)
        if content_type is None:
            raise BrandingError("The logo must be a PNG, JPEG or WebP image (not SVG).")
        row.logo = logo
        row.logo_content_type = content_type
        row.logo_sha256 = hashlib.sha256(logo).hexdigest()
    elif remove_logo:
        row.logo, row.logo_content_type, row.logo_sha256 = b"", "", ""
    row.full_clean()
    changes = diff(before, _snapshot(row))
    if changes:
        row.save()
        audit_record(
            action="branding.updated",
            object_type="branding",
            object_id=str(row.pk),
            object_label="Branding",
            changes=changes,
        )
    selectors.clear_branding_cache()
    return row
