"""Reads of the registration policy: what discovery advertises about it."""

from __future__ import annotations

from django.urls import reverse

from oauth.models import RegistrationPolicy


def registration_metadata(issuer: str) -> dict:
    """RFC 8414 §2 ``registration_endpoint`` while the tenant accepts registrations, and
    ``client_id_metadata_document_supported`` (draft-ietf-oauth-client-id-metadata-document
    §5) while it resolves metadata documents; nothing when both are off."""
    policy = RegistrationPolicy.load()
    metadata: dict = {}
    if policy.mode != RegistrationPolicy.Mode.OFF:
        metadata["registration_endpoint"] = issuer + reverse("oauth-register")
    if policy.documents != RegistrationPolicy.DocumentMode.OFF:
        metadata["client_id_metadata_document_supported"] = True
    return metadata
