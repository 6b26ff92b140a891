"""Reads of the registration policy: what discovery advertises about it."""

from __future__ import annotations

from contextlib import nullcontext

from django.db import connection
from django.urls import reverse
from django_tenants.utils import schema_context

from oauth.models import RegistrationPolicy


def _policy_of(tenant) -> RegistrationPolicy:
    """The policy of ``tenant``: the request's tenant, even when the caller's connection is
    on another schema (the metadata function is also called outside the tenant middleware)."""
    schema = getattr(tenant, "schema_name", None)
    same = schema is None or schema == connection.schema_name
    with nullcontext() if same else schema_context(schema):
        return RegistrationPolicy.load()


def registration_metadata(request, issuer: str) -> dict:
    """RFC 8414 §2 ``registration_endpoint`` while the tenant accepts registrations, and
    ``client_id_metadata_document_supported`` (draft-ietf-oauth-client-id-metadata-document
    §5) while it resolves metadata documents; nothing when both are off."""
    policy = _policy_of(getattr(request, "tenant", None))
    metadata: dict = {}
    if policy.mode != RegistrationPolicy.Mode.OFF:
        metadata["registration_endpoint"] = issuer + reverse("oauth-register")
    if policy.documents != RegistrationPolicy.DocumentMode.OFF:
        metadata["client_id_metadata_document_supported"] = True
    return metadata
