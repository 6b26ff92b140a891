"""Writes to clients: registration, secret rotation, disabling (RFC 7591 §2 metadata)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from kernel import credentials
from oauth.client_metadata import ClientError, ClientMetadata, check_scopes_allowed
from oauth.models import Client


@transaction.atomic
def client_create(*, metadata: ClientMetadata) -> tuple[Client, str | None]:
    """Register a client with validated ``metadata`` and return it with its secret.

    The secret (None for a public client) is returned once and only its digest is stored.
    """
    check_scopes_allowed(metadata.scopes)
    secret = None if metadata.is_public else credentials.new_secret()
    client = Client.objects.create(
        client_id=credentials.new_client_id(),
        name=metadata.name,
        client_type=Client.Type.PUBLIC if metadata.is_public else Client.Type.CONFIDENTIAL,
        token_endpoint_auth_method=metadata.auth_method,
        secret_digest=credentials.digest(secret) if secret else "",
        grant_types=metadata.grant_types,
        response_types=metadata.response_types,
        redirect_uris=metadata.redirect_uris,
        scopes=metadata.scopes,
        default_scopes=metadata.default_scopes,
        resources=metadata.resources,
        cors_origins=metadata.cors_origins,
        access_token_lifetime=metadata.access_token_lifetime,
        refresh_token_lifetime=metadata.refresh_token_lifetime,
        access_token_format=metadata.access_token_format,
        post_logout_redirect_uris=metadata.post_logout_redirect_uris,
        id_token_signed_response_alg=metadata.id_token_signed_response_alg,
        can_introspect=metadata.can_introspect,
    )
    return client, secret


@transaction.atomic
def client_rotate_secret(*, client: Client, grace_seconds: int = 0) -> str:
    """A new secret for ``client``; the old one stays valid for ``grace_seconds``."""
    if client.is_public:
        raise ClientError("a public client has no secret")
    secret = credentials.new_secret()
    client.previous_secret_digest = client.secret_digest if grace_seconds else ""
    client.previous_secret_expires_at = (
        timezone.now() + timedelta(seconds=grace_seconds) if grace_seconds else None
    )
    client.secret_digest = credentials.digest(secret)
    client.save(
        update_fields=["secret_digest", "previous_secret_digest", "previous_secret_expires_at"]
    )
    return secret


@transaction.atomic
def client_set_disabled(*, client: Client, disabled: bool) -> Client:
    """Disable or re-enable ``client``. A disabled client authenticates nowhere and its
    tokens introspect as inactive at once (the tenant admin's kill switch)."""
    client.disabled = disabled
    client.save(update_fields=["disabled"])
    return client
