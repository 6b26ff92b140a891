"""Writes to OAuth storage: clients, tokens, codes, grant families, consents.

Every function takes keyword-only arguments and runs in the current tenant's schema. Plain
secrets, tokens and codes are never stored: only ``digests.digest`` of them (DESIGN.md §3).
Code redemption and refresh rotation lock the row they consume (``select_for_update``), so
two concurrent requests cannot both succeed and neither sees a 5xx.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from oauth import digests, selectors
from oauth.models import (
    AuthorizationCode,
    Client,
    Consent,
    GrantFamily,
    IssuerSettings,
    SigningKey,
    Token,
)

logger = logging.getLogger(__name__)

GRANT_TYPES = ("authorization_code", "client_credentials", "refresh_token")
#: RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+$")


class ClientError(ValueError):
    """A one-line, operator-facing reason a client could not be registered."""


def _purge_after(*expiries: datetime | None) -> datetime:
    latest = max(e for e in expiries if e is not None)
    return latest + timedelta(seconds=selectors.token_retention_seconds())


# --- Clients ----------------------------------------------------------------------------------


def _validate_redirect_uri(uri: str) -> str:
    """RFC 6749 §3.1.2 and RFC 8252 §7: absolute, no fragment; https, http on a loopback
    IP literal (or localhost), or a private-use scheme (reverse domain name) for apps."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise ClientError(f"redirect URI {uri!r} is not a URI") from None
    if len(uri) > 2000 or parts.fragment or "#" in uri:
        raise ClientError(f"redirect URI {uri!r} must not have a fragment (RFC 6749 3.1.2)")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost"):
        return uri
    if _PRIVATE_SCHEME.match(parts.scheme or "") and not parts.netloc:
        return uri
    raise ClientError(
        f"redirect URI {uri!r} must be https, http on 127.0.0.1/[::1], or an app's "
        "private-use scheme such as com.example.app:/cb"
    )


def _validate_origin(origin: str) -> str:
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ClientError(f"CORS origin {origin!r} is not an origin") from None
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username
        or origin != origin.lower()
    ):
        raise ClientError(
            f"CORS origin {origin!r} must be scheme://host[:port] in lowercase, no path"
        )
    return origin


def _validate_resource(resource: str) -> str:
    """RFC 8707 §2: an absolute URI without a fragment."""
    try:
        parts = urlsplit(resource)
    except ValueError:
        raise ClientError(f"resource {resource!r} is not a URI") from None
    if not parts.scheme or not parts.netloc or parts.fragment or len(resource) > 500:
        raise ClientError(f"resource {resource!r} must be an absolute URI without fragment")
    return resource


def _lifetime(value: int | None, name: str) -> int | None:
    if value is not None and not 1 <= value <= 10 * 365 * 86400:
        raise ClientError(f"{name} must be between 1 second and 10 years")
    return value


@transaction.atomic
def client_create(
    *,
    name: str,
    grant_types: list[str] | None = None,
    redirect_uris: list[str] | None = None,
    scopes: list[str] | None = None,
    default_scopes: list[str] | None = None,
    auth_method: str = Client.AuthMethod.BASIC,
    can_introspect: bool = False,
    resources: list[str] | None = None,
    cors_origins: list[str] | None = None,
    access_token_lifetime: int | None = None,
    refresh_token_lifetime: int | None = None,
    access_token_format: str = Client.AccessTokenFormat.OPAQUE,
    post_logout_redirect_uris: list[str] | None = None,
    id_token_signed_response_alg: str = SigningKey.Alg.RS256,
) -> tuple[Client, str | None]:
    """Register a client (RFC 7591 §2 metadata) and return it with its secret.

    The secret (None for a public client) is returned once and only its digest is stored.
    Without ``grant_types``, a client with redirect URIs gets ``authorization_code`` and
    ``refresh_token``; one without gets ``client_credentials``.
    """
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ClientError("name must be 1-200 characters")
    if auth_method not in Client.AuthMethod.values:
        raise ClientError(f"unknown auth method {auth_method!r}")
    if access_token_format not in Client.AccessTokenFormat.values:
        raise ClientError(f"unknown access token format {access_token_format!r}")
    redirect_uris = [_validate_redirect_uri(u) for u in dict.fromkeys(redirect_uris or [])]
    if grant_types is None or not grant_types:
        grant_types = (
            ["authorization_code", "refresh_token"] if redirect_uris else ["client_credentials"]
        )
    grant_types = list(dict.fromkeys(grant_types))
    unknown = [g for g in grant_types if g not in GRANT_TYPES]
    if unknown:
        raise ClientError(f"unsupported grant type {unknown[0]!r}; use {', '.join(GRANT_TYPES)}")
    public = auth_method == Client.AuthMethod.NONE
    if public and "client_credentials" in grant_types:
        raise ClientError("a public client (auth method none) cannot use client_credentials")
    if public and can_introspect:
        raise ClientError("a public client (auth method none) cannot introspect tokens")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientError("authorization_code needs at least one --redirect-uri")
    if "refresh_token" in grant_types and "authorization_code" not in grant_types:
        raise ClientError("refresh_token is only issued with authorization_code")
    if redirect_uris and "authorization_code" not in grant_types:
        raise ClientError("redirect URIs are only used by the authorization_code grant")
    # OpenID Connect RP-Initiated Logout §3.1; Registration §2 (RS256 unless ES256 asked for).
    post_logout_redirect_uris = [
        _validate_redirect_uri(u) for u in dict.fromkeys(post_logout_redirect_uris or [])
    ]
    if post_logout_redirect_uris and "authorization_code" not in grant_types:
        raise ClientError("post-logout redirect URIs are only used with authorization_code")
    if id_token_signed_response_alg not in SigningKey.Alg.values:
        raise ClientError(
            f"id_token alg must be one of {', '.join(SigningKey.Alg.values)}, "
            f"not {id_token_signed_response_alg!r}"
        )
    scopes = list(dict.fromkeys(scopes or []))
    for scope in scopes:
        if not _SCOPE_TOKEN.match(scope) or len(scope) > 200:
            raise ClientError(f"invalid scope {scope!r} (RFC 6749 3.3)")
    default_scopes = list(dict.fromkeys(default_scopes or []))
    if not set(default_scopes) <= set(scopes):
        raise ClientError("default scopes must be among the client's scopes")

    secret = None if public else digests.new_secret()
    client = Client.objects.create(
        client_id=digests.new_client_id(),
        name=name,
        client_type=Client.Type.PUBLIC if public else Client.Type.CONFIDENTIAL,
        token_endpoint_auth_method=auth_method,
        secret_digest=digests.digest(secret) if secret else "",
        grant_types=grant_types,
        response_types=["code"] if "authorization_code" in grant_types else [],
        redirect_uris=redirect_uris,
        scopes=scopes,
        default_scopes=default_scopes,
        resources=[_validate_resource(r) for r in dict.fromkeys(resources or [])],
        cors_origins=[_validate_origin(o) for o in dict.fromkeys(cors_origins or [])],
        access_token_lifetime=_lifetime(access_token_lifetime, "access token lifetime"),
        refresh_token_lifetime=_lifetime(refresh_token_lifetime, "refresh token lifetime"),
        access_token_format=access_token_format,
        post_logout_redirect_uris=post_logout_redirect_uris,
        id_token_signed_response_alg=id_token_signed_response_alg,
        can_introspect=can_introspect,
    )
    return client, secret


@transaction.atomic
def client_rotate_secret(*, client: Client, grace_seconds: int = 0) -> str:
    """A new secret for ``client``; the old one stays valid for ``grace_seconds``."""
    if client.is_public:
        raise ClientError("a public client has no secret")
    secret = digests.new_secret()
    client.previous_secret_digest = client.secret_digest if grace_seconds else ""
    client.previous_secret_expires_at = (
        timezone.now() + timedelta(seconds=grace_seconds) if grace_seconds else None
    )
    client.secret_digest = digests.digest(secret)
    client.save(
        update_fields=["secret_digest", "previous_secret_digest", "previous_secret_expires_at"]
    )
    return secret


# --- Issuer settings --------------------------------------------------------------------------


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


# --- Tokens -----------------------------------------------------------------------------------


def _token_row(
    *,
    client: Client,
    token: dict,
    now: datetime,
    user_id=None,
    family: GrantFamily | None = None,
    audience: str = "",
    refresh_lifetime: int | None = None,
    jti: str | None = None,
) -> Token:
    access_expires_at = now + timedelta(seconds=int(token["expires_in"]))
    refresh = token.get("refresh_token")
    refresh_expires_at = now + timedelta(seconds=refresh_lifetime) if refresh else None
    return Token(
        client=client,
        user_id=user_id,
        family=family,
        access_digest=digests.digest(token["access_token"]),
        refresh_digest=digests.digest(refresh) if refresh else None,
        scope=token.get("scope", ""),
        audience=audience,
        jti=jti,
        issued_at=now,
        access_expires_at=access_expires_at,
        refresh_expires_at=refresh_expires_at,
        purge_after=_purge_after(access_expires_at, refresh_expires_at),
    )


def token_issue(
    *, client: Client, token: dict, audience: str = "", jti: str | None = None
) -> Token:
    """Store a client-credentials access token (RFC 6749 §4.4.3: no refresh token).

    One INSERT, which is atomic by itself: this is the benchmarked hot path, and wrapping
    it in ``transaction.atomic`` would only add a BEGIN and a COMMIT round trip.
    """
    row = _token_row(client=client, token=token, now=timezone.now(), audience=audience, jti=jti)
    row.save(force_insert=True)
    return row


def _refresh_lifetime(client: Client) -> int:
    return client.refresh_token_lifetime or selectors.issuer_policy().refresh_token_lifetime


@transaction.atomic
def family_revoke(*, family_id: int, reason: str) -> int:
    """Revoke a grant family and every token in it (RFC 9700 §4.14.2, RFC 6749 §4.1.2).

    Returns how many live tokens were revoked. Logs the family id and reason only.
    """
    now = timezone.now()
    GrantFamily.objects.filter(pk=family_id, revoked_at__isnull=True).update(revoked_at=now)
    count = Token.objects.filter(family_id=family_id, revoked_at__isnull=True).update(
        revoked_at=now
    )
    logger.warning("grant family %s revoked: %s (%s tokens)", family_id, reason, count)
    return count


# --- Authorization codes ----------------------------------------------------------------------


def authorization_code_create(
    *,
    client: Client,
    user,
    code: str,
    redirect_uri: str,
    scope: str,
    auth_time: datetime,
    nonce: str = "",
    code_challenge: str = "",
    code_challenge_method: str = "",
    resource: str = "",
) -> AuthorizationCode:
    """Store an authorization code (RFC 6749 §4.1.2) as a digest; one INSERT.

    ``redirect_uri`` is the one the request named ("" if it named none, RFC 6749 §4.1.3).
    The code lives ``IssuerSettings.authorization_code_lifetime`` seconds (default 60).
    """
    now = timezone.now()
    lifetime = selectors.issuer_policy(fresh=True).authorization_code_lifetime
    expires_at = now + timedelta(seconds=lifetime)
    row = AuthorizationCode(
        code_digest=digests.digest(code),
        client=client,
        user=user,
        redirect_uri=redirect_uri,
        scope=scope,
        resource=resource,
        nonce=nonce,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        auth_time=auth_time,
        created_at=now,
        expires_at=expires_at,
        purge_after=_purge_after(expires_at),
    )
    row.save(force_insert=True)
    return row


class Redemption(enum.Enum):
    ISSUED = "issued"
    REPLAYED = "replayed"
    EXPIRED = "expired"


@dataclass(frozen=True)
class RedemptionResult:
    outcome: Redemption
    token: Token | None = None


@transaction.atomic
def authorization_code_redeem(
    *,
    code_id: int,
    client: Client,
    token: dict,
    jti: str | None = None,
    audience: str | None = None,
) -> RedemptionResult:
    """Exchange a code for tokens, once (RFC 6749 §4.1.2, §4.1.3).

    The code row is locked, so of two concurrent redemptions one issues and the other sees
    the code used. A used code presented again is a replay: the family it started is
    revoked, rotated descendants included, and the caller answers ``invalid_grant``.
    """
    code = AuthorizationCode.objects.select_for_update().get(pk=code_id)
    now = timezone.now()
    if code.used_at is not None:
        if code.family_id is not None:
            family_revoke(family_id=code.family_id, reason="authorization code replayed")
        return RedemptionResult(Redemption.REPLAYED)
    if code.expires_at <= now:
        return RedemptionResult(Redemption.EXPIRED)
    refresh_lifetime = _refresh_lifetime(client)
    row = _token_row(
        client=client,
        token=token,
        now=now,
        user_id=code.user_id,
        audience=code.resource if audience is None else audience,
        refresh_lifetime=refresh_lifetime,
        jti=jti,
    )
    family = GrantFamily.objects.create(
        client=client,
        user_id=code.user_id,
        scope=code.scope,
        resource=code.resource,
        nonce=code.nonce,
        auth_time=code.auth_time,
        purge_after=row.purge_after,
    )
    row.family = family
    row.save(force_insert=True)
    code.used_at = now
    code.family = family
    code.save(update_fields=["used_at", "family"])
    return RedemptionResult(Redemption.ISSUED, row)


@transaction.atomic
def authorization_code_replayed(*, code_id: int) -> None:
    """A used code was presented again: revoke the family it started (RFC 6749 §4.1.2)."""
    code = AuthorizationCode.objects.select_for_update().get(pk=code_id)
    if code.family_id is not None:
        family_revoke(family_id=code.family_id, reason="authorization code replayed")


# --- Refresh rotation -------------------------------------------------------------------------


class Rotation(enum.Enum):
    ROTATED = "rotated"
    RACE_LOST = "race_lost"  # a retired token within the concurrency window
    REUSED = "reused"  # a retired token after the window: family revoked
    INVALID = "invalid"  # revoked, expired, or its family revoked


@dataclass(frozen=True)
class RotationResult:
    outcome: Rotation
    token: Token | None = None

    @property
    def description(self) -> str:
        return {
            Rotation.RACE_LOST: "The refresh token was just rotated by a concurrent request.",
            Rotation.REUSED: "The refresh token was already used; the grant has been revoked.",
        }.get(self.outcome, "The refresh token is invalid, expired or revoked.")


@transaction.atomic
def refresh_token_rotate(
    *,
    token_id: int,
    family_id: int,
    client: Client,
    token: dict,
    reuse_window: int,
    jti: str | None = None,
    audience: str | None = None,
) -> RotationResult:
    """Rotate a refresh token (RFC 6749 §6, RFC 9700 §4.14.2), under row locks.

    - live: the old member is retired and a new one, in the same family and with the
      family's granted scope, is stored from ``token``;
    - retired less than ``reuse_window`` seconds ago: a lost race, nothing is revoked;
    - retired longer ago (or ``reuse_window`` is 0): reuse, the whole family is revoked.

    Locks are always taken family first, then token (as ``family_revoke`` does), so
    concurrent rotations, reuses and revocations of one family queue up instead of
    deadlocking.
    """
    family = GrantFamily.objects.select_for_update().get(pk=family_id)
    old = Token.objects.select_for_update(of=("self",)).get(pk=token_id)
    now = timezone.now()
    if old.revoked_at is not None or family.revoked_at is not None:
        return RotationResult(Rotation.INVALID)
    if old.retired_at is not None:
        if reuse_window and now - old.retired_at <= timedelta(seconds=reuse_window):
            return RotationResult(Rotation.RACE_LOST)
        family_revoke(family_id=family.pk, reason="refresh token reused")
        return RotationResult(Rotation.REUSED)
    if old.is_refresh_expired():
        return RotationResult(Rotation.INVALID)
    row = _token_row(
        client=client,
        token=token,
        now=now,
        user_id=old.user_id,
        family=family,
        audience=old.audience if audience is None else audience,
        refresh_lifetime=_refresh_lifetime(client),
        jti=jti,
    )
    row.save(force_insert=True)
    old.retired_at = now
    old.save(update_fields=["retired_at"])
    if family.purge_after < row.purge_after:
        GrantFamily.objects.filter(pk=family.pk).update(purge_after=row.purge_after)
    return RotationResult(Rotation.ROTATED, row)


# --- Revocation -------------------------------------------------------------------------------


@transaction.atomic
def token_revoke(*, token: Token, kind: str) -> None:
    """RFC 7009 §2.1. Revoking a refresh token revokes its whole family (every access and
    refresh token of that grant); revoking an access token revokes its row, which also ends
    the refresh token issued with it ("MAY" in RFC 7009 §2.1)."""
    if kind == selectors.REFRESH and token.family_id is not None:
        family_revoke(family_id=token.family_id, reason="refresh token revoked by its client")
        return
    Token.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


# --- Consent ----------------------------------------------------------------------------------


@transaction.atomic
def consent_remember(*, user, client: Client, scope: str) -> Consent:
    """Remember that ``user`` allowed ``client`` these scopes (added to earlier ones)."""
    consent, created = Consent.objects.select_for_update().get_or_create(
        user=user, client=client, defaults={"scope": scope}
    )
    if not created:
        merged = list(dict.fromkeys(consent.scope.split() + scope.split()))
        consent.scope = " ".join(merged)
        consent.save(update_fields=["scope", "updated_at"])
    return consent
