"""Writes of dynamic registration: clients registered (RFC 7591 §3) and managed (RFC 7592
§2) by themselves, the tenant's registration policy, and initial access tokens. Every write
records its audit row in the same transaction; tokens are stored as digests only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6750 import InvalidTokenError
from django.db import transaction
from django.utils import timezone

from kernel import credentials
from kernel.audit.services import audit_record, diff
from kernel.ratelimit import FixedWindow, tally
from oauth.client_metadata import ClientError, scope_token_valid
from oauth.models import Client, InitialAccessToken, RegistrationPolicy
from oauth.registration.metadata import (
    REDIRECT_SCHEMES,
    SERVER_MEMBERS,
    Registration,
    client_error,
    registration_from_json,
)
from oauth.services.clients import client_create, client_delete, client_update

#: An initial access token lives at most this long (a year) and serves this many clients.
MAX_TOKEN_SECONDS = 365 * 86400
MAX_TOKEN_USES = 10_000
_HOUR = 3600


class RegistrationOff(OAuth2Error):
    """The tenant accepts no dynamic registration (its policy is off)."""

    error = "access_denied"
    status_code = 403


class TooManyRegistrations(OAuth2Error):
    """Over the tenant's cap of clients per hour, or per source IP per hour."""

    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, description: str, retry_after: int) -> None:
        super().__init__(description)
        self.retry_after = retry_after


class PolicyError(ValueError):
    """A registration policy value the console form let through but the service refuses."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Registered:
    """A registered client with its secret (None if public) and registration access
    token, both shown once."""

    client: Client
    secret: str | None
    registration_token: str


def _audit(action: str, *, object_type: str, object_id, label: str, changes: dict) -> None:
    audit_record(
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_label=label,
        changes=changes,
    )


# --- Caps ------------------------------------------------------------------------------------


def _caps(policy: RegistrationPolicy, ip: str) -> list[tuple[FixedWindow, str, int]]:
    return [
        (FixedWindow("oauth:register:tenant", policy.clients_per_hour, _HOUR), "all", 1),
        (FixedWindow("oauth:register:ip", policy.clients_per_ip_per_hour, _HOUR), ip, 1),
    ]


def _count_registration(policy: RegistrationPolicy, ip: str) -> list:
    """Count one registration against the caps (atomic check-and-count, fail open); over
    one, the counts are taken back and the request refused."""
    changes = _caps(policy, ip)
    counts = tally(changes)
    for (window, _key, _delta), count in zip(changes, counts, strict=True):
        if count > window.limit:
            tally([(w, k, -d) for w, k, d in changes])
            whose = "this organisation" if window.name.endswith("tenant") else "this address"
            raise TooManyRegistrations(
                f"Too many clients registered for {whose} this hour; retry later.",
                retry_after=window.retry_after(),
            )
    return changes


# --- Initial access tokens (RFC 7591 §3) ----------------------------------------------------


def _usable_token(value: str) -> InitialAccessToken:
    """The initial access token ``value`` names, locked; RFC 6750 §3.1 ``invalid_token``
    when it is unknown, expired, used up or revoked (which of them is not told)."""
    row = (
        InitialAccessToken.objects.select_for_update()
        .filter(token_digest=credentials.digest(value))
        .first()
    )
    if row is None or not row.usable:
        raise InvalidTokenError(
            "The initial access token is not valid: it may have expired or been used up. "
            "Ask the organisation's admin for a new one."
        )
    return row


@transaction.atomic
def client_register(*, body, ip: str, initial_access_token: str | None) -> Registered:
    """RFC 7591 §3.1: register a client from its JSON metadata under the tenant's policy.

    Policy ``token`` needs an initial access token (``invalid_token`` without a usable one);
    ``open`` takes anyone, and a token, when one is presented, still bounds the client. The
    caps per hour count every registration, with or without a token."""
    policy = RegistrationPolicy.load()
    if policy.mode == RegistrationPolicy.Mode.OFF:
        raise RegistrationOff(
            "This organisation does not accept dynamic client registration; ask its admin "
            "to register the client in the console."
        )
    token = None
    if initial_access_token:
        token = _usable_token(initial_access_token)
    elif policy.mode != RegistrationPolicy.Mode.OPEN:  # "with an initial access token"
        raise InvalidTokenError(
            "Registering a client here needs an initial access token (Authorization: Bearer)."
        )
    registration = registration_from_json(body, policy=policy, token=token)
    counted = _count_registration(policy, ip)
    try:
        client, secret = client_create(metadata=registration.metadata)
    except ClientError as error:
        tally([(w, k, -d) for w, k, d in counted])
        raise client_error(error) from None
    registration_token = credentials.new_secret()
    client.registration = Client.Registration.DYNAMIC
    client.application_type = registration.application_type
    client.registration_token_digest = credentials.digest(registration_token)
    client.save(update_fields=["registration", "application_type", "registration_token_digest"])
    if token is not None:
        token.uses_left -= 1
        token.save(update_fields=["uses_left"])
    _audit(
        "client.self_registered",
        object_type="client",
        object_id=client.client_id,
        label=client.name,
        changes={
            "via": "initial access token" if token else "open registration",
            "issued_with": f"initial access {token.pk}" if token else None,
            "application_type": registration.application_type,
        },
    )
    return Registered(client=client, secret=secret, registration_token=registration_token)


def registered_client(*, client_id: str, registration_token: str) -> Client:
    """RFC 7592 §2: the self-registered client this registration access token is for; 401
    ``invalid_token`` for any other token, client or tenant (§2.1: never 404, which would
    tell which client_ids exist)."""
    client = (
        Client.objects.filter(client_id=client_id, registration=Client.Registration.DYNAMIC)
        .exclude(registration_token_digest="")
        .first()
    )
    if client is None or not credentials.matches(
        registration_token or "", client.registration_token_digest
    ):
        raise InvalidTokenError("The registration access token is not valid for this client.")
    return client


@transaction.atomic
def client_registration_update(*, client: Client, body) -> tuple[Client, str]:
    """RFC 7592 §2.2: replace the client's metadata with ``body`` (validated like a new
    registration, under today's policy) and rotate its registration access token, which is
    returned with the client. Public stays public, confidential stays confidential."""
    if not isinstance(body, dict) or body.get("client_id") != client.client_id:
        raise InvalidRequestError("The body must name this client's client_id (RFC 7592 2.2).")
    present = [name for name in SERVER_MEMBERS if name in body]
    if present:
        raise InvalidRequestError(f"{present[0]} is set by the server and may not be sent.")
    if "client_secret" in body and (
        client.is_public or not client.check_client_secret(str(body["client_secret"]))
    ):
        raise InvalidRequestError("client_secret does not match this client's secret.")
    fields = {k: v for k, v in body.items() if k not in ("client_id", "client_secret")}
    policy = RegistrationPolicy.load()
    registration: Registration = registration_from_json(fields, policy=policy)
    try:
        client = client_update(client=client, metadata=registration.metadata)
    except ClientError as error:
        raise client_error(error) from None
    client.application_type = registration.application_type
    client.save(update_fields=["application_type"])
    return client, registration_token_rotate(client=client)


@transaction.atomic
def registration_token_rotate(*, client: Client) -> str:
    """A new registration access token for ``client``, the old one void (RFC 7592 §2.1,
    §2.2, §3: every client information response carries one, and only digests are kept,
    so each read and update rotates it)."""
    token = credentials.new_secret()
    client.registration_token_digest = credentials.digest(token)
    client.save(update_fields=["registration_token_digest"])
    _audit(
        "client.registration_access_rotated",
        object_type="client",
        object_id=client.client_id,
        label=client.name,
        changes={"registration_access": "rotated (RFC 7592 section 3)"},
    )
    return token


def client_registration_delete(*, client: Client) -> None:
    """RFC 7592 §2.3: deregister the client; its tokens stop working with it."""
    client_delete(client=client)


# --- Policy --------------------------------------------------------------------------------


def policy_snapshot(policy: RegistrationPolicy) -> dict:
    return {
        "mode": policy.mode,
        "allowed_grant_types": list(policy.allowed_grant_types),
        "allowed_redirect_schemes": list(policy.allowed_redirect_schemes),
        "allowed_redirect_hosts": list(policy.allowed_redirect_hosts),
        "resources": list(policy.resources),
        "clients_per_hour": policy.clients_per_hour,
        "clients_per_ip_per_hour": policy.clients_per_ip_per_hour,
        "documents": policy.documents,
        "document_hosts": list(policy.document_hosts),
    }


@transaction.atomic
def registration_policy_update(
    *,
    mode: str,
    allowed_grant_types: list[str],
    allowed_redirect_schemes: list[str],
    allowed_redirect_hosts: list[str],
    resources: list[str],
    clients_per_hour: int,
    clients_per_ip_per_hour: int,
    documents: str,
    document_hosts: list[str],
) -> RegistrationPolicy:
    """Set the tenant's registration policy (audited with what changed)."""
    if mode not in RegistrationPolicy.Mode.values:
        raise PolicyError(f"unknown registration mode {mode!r}", field="mode")
    if documents not in RegistrationPolicy.DocumentMode.values:
        raise PolicyError(f"unknown metadata document mode {documents!r}", field="documents")
    if documents == RegistrationPolicy.DocumentMode.HOSTS and not document_hosts:
        raise PolicyError("list at least one host for metadata documents", field="document_hosts")
    bad = [s for s in allowed_redirect_schemes if s not in REDIRECT_SCHEMES]
    if bad:
        raise PolicyError(f"unknown redirect URI kind {bad[0]!r}", field="allowed_redirect_schemes")
    policy = RegistrationPolicy.load()
    policy = RegistrationPolicy.objects.select_for_update().get(pk=policy.pk)
    before = policy_snapshot(policy)
    policy.mode = mode
    policy.allowed_grant_types = list(dict.fromkeys(allowed_grant_types))
    policy.allowed_redirect_schemes = list(dict.fromkeys(allowed_redirect_schemes))
    policy.allowed_redirect_hosts = list(dict.fromkeys(h.lower() for h in allowed_redirect_hosts))
    policy.resources = list(dict.fromkeys(resources))
    policy.clients_per_hour = clients_per_hour
    policy.clients_per_ip_per_hour = clients_per_ip_per_hour
    policy.documents = documents
    policy.document_hosts = list(dict.fromkeys(h.lower() for h in document_hosts))
    changes = diff(before, policy_snapshot(policy))
    if changes:
        policy.save()
        _audit(
            "registration.policy_updated",
            object_type="registration_policy",
            object_id=policy.pk,
            label="Registration policy",
            changes=changes,
        )
    return policy


@transaction.atomic
def initial_access_token_create(
    *,
    expires_in: int,
    uses: int = 1,
    scopes: list[str] | None = None,
    redirect_hosts: list[str] | None = None,
    label: str = "",
) -> tuple[InitialAccessToken, str]:
    """Mint an RFC 7591 §3 initial access token; the value is returned once, its digest kept."""
    if not 60 <= expires_in <= MAX_TOKEN_SECONDS:
        raise PolicyError("the token must expire in 1 minute to 1 year", field="expires_in")
    if not 1 <= uses <= MAX_TOKEN_USES:
        raise PolicyError(f"uses must be 1 to {MAX_TOKEN_USES}", field="uses")
    scopes = list(dict.fromkeys(scopes or []))
    bad = [s for s in scopes if not scope_token_valid(s)]
    if bad:
        raise PolicyError(f"invalid scope {bad[0]!r}", field="scopes")
    value = credentials.new_secret()
    row = InitialAccessToken.objects.create(
        token_digest=credentials.digest(value),
        label=label[:200],
        expires_at=timezone.now() + timedelta(seconds=expires_in),
        uses_left=uses,
        scopes=scopes,
        redirect_hosts=list(dict.fromkeys(h.lower() for h in redirect_hosts or [])),
    )
    _audit(
        "registration.initial_access_token_created",
        object_type="initial_access_token",
        object_id=row.pk,
        label=str(row),
        changes={
            "expires_at": row.expires_at.isoformat(),
            "uses": uses,
            "scopes": scopes,
            "redirect_hosts": list(row.redirect_hosts),
        },
    )
    return row, value


@transaction.atomic
def initial_access_token_revoke(*, token: InitialAccessToken) -> None:
    row = InitialAccessToken.objects.select_for_update().get(pk=token.pk)
    if row.revoked_at is not None:
        return
    row.revoked_at = timezone.now()
    row.save(update_fields=["revoked_at"])
    _audit(
        "registration.initial_access_token_revoked",
        object_type="initial_access_token",
        object_id=row.pk,
        label=str(row),
        changes={"uses_left": row.uses_left},
    )
