"""Writes to clients: registration, changes, secret rotation, disabling, deletion (RFC 7591 §2
metadata). Every write records its audit event in the same transaction; no secret or digest
ever reaches an audit row."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from kernel import credentials
from kernel.audit.services import audit_record, diff
from oauth.client_metadata import ClientError, ClientMetadata, check_scopes_allowed
from oauth.models import Client, SigningKey
from oauth.signing.encryption import (
    KeyDecryptionError,
    encrypt_private_key,
    key_encryption,
    reencrypt_private_key,
)
from oauth.signing.services import signing_keys_ensure

#: Longest overlap a rotated secret may keep working (30 days).
MAX_GRACE_SECONDS = 30 * 86400


def client_snapshot(client: Client) -> dict:
    """What an audit diff shows of a client. The names avoid the audit log's redaction by
    name (``token``, ``secret``...): these values are settings, not credentials."""
    return {
        "name": client.name,
        "type": client.client_type,
        "auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types),
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "scopes": list(client.scopes),
        "default_scopes": list(client.default_scopes),
        "resources": list(client.resources),
        "cors_origins": list(client.cors_origins),
        "access_lifetime": client.access_token_lifetime,
        "refresh_lifetime": client.refresh_token_lifetime,
        "access_format": client.access_token_format,
        "id_token_alg": client.id_token_signed_response_alg,
        "can_introspect": client.can_introspect,
        "disabled": client.disabled,
        "jwks_kids": [key.get("kid") for key in (client.jwks or {}).get("keys", [])],
        "jwks_uri": client.jwks_uri,
        "auth_signing_alg": client.token_endpoint_auth_signing_alg,
        "request_object_alg": client.request_object_signing_alg,
        "require_par": client.require_pushed_authorization_requests,
        "dpop_bound": client.dpop_bound_access_tokens,
        "security_profile": client.security_profile,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "exchange_audiences": list(client.token_exchange_audiences),
    }


def _apply(client: Client, metadata: ClientMetadata) -> None:
    client.name = metadata.name
    client.token_endpoint_auth_method = metadata.auth_method
    client.grant_types = metadata.grant_types
    client.response_types = metadata.response_types
    client.redirect_uris = metadata.redirect_uris
    client.scopes = metadata.scopes
    client.default_scopes = metadata.default_scopes
    client.resources = metadata.resources
    client.cors_origins = metadata.cors_origins
    client.access_token_lifetime = metadata.access_token_lifetime
    client.refresh_token_lifetime = metadata.refresh_token_lifetime
    client.access_token_format = metadata.access_token_format
    client.post_logout_redirect_uris = metadata.post_logout_redirect_uris
    client.id_token_signed_response_alg = metadata.id_token_signed_response_alg
    client.can_introspect = metadata.can_introspect
    client.jwks = metadata.jwks
    client.jwks_uri = metadata.jwks_uri
    client.token_endpoint_auth_signing_alg = metadata.token_endpoint_auth_signing_alg
    client.request_object_signing_alg = metadata.request_object_signing_alg
    client.require_pushed_authorization_requests = metadata.require_pushed_authorization_requests
    client.dpop_bound_access_tokens = metadata.dpop_bound_access_tokens
    client.security_profile = metadata.security_profile
    client.backchannel_logout_uri = metadata.backchannel_logout_uri
    client.backchannel_logout_session_required = metadata.backchannel_logout_session_required
    client.token_exchange_audiences = metadata.token_exchange_audiences


def _secret_ciphertext(method: str, secret: str | None) -> str:
    """RFC 7523 §2.2 ``client_secret_jwt`` MACs with the secret itself, so for such clients
    only it is kept recoverable: encrypted at rest like signing keys (MultiFernet,
    ``oauth.signing.encryption``). Every other method compares the digest (DESIGN.md §3)
    and keeps no ciphertext."""
    if method != Client.AuthMethod.SECRET_JWT or not secret:
        return ""
    return encrypt_private_key(secret.encode("ascii"))


def _issues_secret(metadata: ClientMetadata) -> bool:
    """Public clients have no secret; ``private_key_jwt`` clients authenticate with their
    keys only (RFC 7591 §3.2.1: ``client_secret`` only if one is used)."""
    return not metadata.is_public and metadata.auth_method != Client.AuthMethod.PRIVATE_KEY_JWT


def _ensure_signing_alg(client: Client) -> None:
    """A client that will get PS256 JWTs (its id_token alg, or FAPI 2.0 §5.4.1) has the
    tenant's PS256 keys made now, published before they first sign (``signing_keys_ensure``;
    signing would make them too, on first need)."""
    if (
        client.id_token_signed_response_alg == SigningKey.Alg.PS256
        or client.security_profile == Client.SecurityProfile.FAPI2
    ):
        signing_keys_ensure(alg=SigningKey.Alg.PS256)


def _audit(action: str, client: Client, changes: dict) -> None:
    audit_record(
        action=action,
        object_type="client",
        object_id=client.client_id,
        object_label=client.name,
        changes=changes,
    )


@transaction.atomic
def client_create(
    *, metadata: ClientMetadata, client_id: str | None = None
) -> tuple[Client, str | None]:
    """Register a client with validated ``metadata`` and return it with its secret.

    The secret (None for a public client) is returned once and only its digest is stored.
    ``client_id`` is generated unless given (a Client ID Metadata Document's URL).
    """
    check_scopes_allowed(metadata.scopes)
    secret = credentials.new_secret() if _issues_secret(metadata) else None
    client = Client(
        client_id=client_id or credentials.new_client_id(),
        client_type=Client.Type.PUBLIC if metadata.is_public else Client.Type.CONFIDENTIAL,
        secret_digest=credentials.digest(secret) if secret else "",
        secret_ciphertext=_secret_ciphertext(metadata.auth_method, secret),
    )
    _apply(client, metadata)
    client.save(force_insert=True)
    _ensure_signing_alg(client)
    _audit("client.created", client, diff({}, client_snapshot(client)))
    return client, secret


@transaction.atomic
def client_update(*, client: Client, metadata: ClientMetadata) -> Client:
    """Replace what ``client`` is registered with by ``metadata`` (validated as at creation).

    A client stays public or confidential: turning one into the other would mint or orphan
    a secret behind the admin's back, so it is refused with what to do instead. Switching
    between ``client_secret_basic`` and ``client_secret_post`` is a plain change.
    """
    client = Client.objects.select_for_update().get(pk=client.pk)
    if metadata.is_public != client.is_public:
        kind = "public" if client.is_public else "confidential"
        raise ClientError(
            f"this client is {kind} and stays so: register a new client to change between "
            "a public client (no secret) and a confidential one",
            field="auth_method",
        )
    # Scopes it already had stay editable even if the tenant's allowed list changed since.
    check_scopes_allowed([scope for scope in metadata.scopes if scope not in client.scopes])
    before = client_snapshot(client)
    _apply(client, metadata)
    if metadata.auth_method != Client.AuthMethod.SECRET_JWT:
        client.secret_ciphertext = ""  # kept for client_secret_jwt only
    changes = diff(before, client_snapshot(client))
    if changes:
        client.save()
        _ensure_signing_alg(client)
        _audit("client.updated", client, changes)
    return client


@transaction.atomic
def client_rotate_secret(*, client: Client, grace_seconds: int = 0) -> str:
    """A new secret for ``client``; the old one stays valid for ``grace_seconds`` (0: it
    stops at once). A secret still in its overlap from an earlier rotation stops now: only
    the secret current until this rotation keeps working."""
    if client.is_public:
        raise ClientError("a public client has no secret")
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise ClientError("the overlap must be between 0 seconds and 30 days", field="grace")
    client = Client.objects.select_for_update().get(pk=client.pk)
    secret = credentials.new_secret()
    now = timezone.now()
    client.previous_secret_digest = client.secret_digest if grace_seconds else ""
    client.previous_secret_expires_at = (
        now + timedelta(seconds=grace_seconds) if grace_seconds else None
    )
    client.secret_digest = credentials.digest(secret)
    client.secret_ciphertext = _secret_ciphertext(client.token_endpoint_auth_method, secret)
    client.save(
        update_fields=[
            "secret_digest",
            "secret_ciphertext",
            "previous_secret_digest",
            "previous_secret_expires_at",
            "updated_at",
        ]
    )
    expires = client.previous_secret_expires_at
    _audit(
        "client.secret_rotated",
        client,
        {
            "grace_seconds": grace_seconds,
            "previous_valid_until": expires.isoformat() if expires else None,
        },
    )
    return secret


@transaction.atomic
def client_set_disabled(*, client: Client, disabled: bool) -> Client:
    """Disable or re-enable ``client``. A disabled client authenticates nowhere and its
    tokens introspect as inactive at once (the tenant admin's kill switch). Setting the
    state it already has writes nothing."""
    client = Client.objects.select_for_update().get(pk=client.pk)
    if client.disabled == disabled:
        return client
    client.disabled = disabled
    client.save(update_fields=["disabled", "updated_at"])
    _audit(
        "client.disabled" if disabled else "client.enabled",
        client,
        diff({"disabled": not disabled}, {"disabled": disabled}),
    )
    return client


@transaction.atomic
def client_delete(*, client: Client) -> None:
    """Delete ``client`` with its tokens, codes, grant families and consents (cascades in
    the database); its tokens stop introspecting and its secret stops working at once."""
    _audit("client.deleted", client, diff(client_snapshot(client), {}))
    Client.objects.filter(pk=client.pk).delete()


@transaction.atomic
def client_secrets_reencrypt() -> int:
    """Re-encrypt this tenant's recoverable ``client_secret_jwt`` secrets with the newest
    GATEHOUSE_KEY_ENCRYPTION_KEY entry (as ``signing.services.reencrypt_private_keys`` does
    for signing keys); returns a count. Each row's ``updated_at`` moves, so process caches
    of the client drop their copy."""
    key_encryption()
    count = 0
    for client in Client.objects.select_for_update().exclude(secret_ciphertext="").order_by("pk"):
        try:
            client.secret_ciphertext = reencrypt_private_key(client.secret_ciphertext)
        except KeyDecryptionError:
            raise ClientError(
                f"the secret of client {client.client_id} cannot be decrypted with any "
                "GATEHOUSE_KEY_ENCRYPTION_KEY entry; rotate that client's secret"
            ) from None
        client.save(update_fields=["secret_ciphertext", "updated_at"])
        count += 1
    return count
