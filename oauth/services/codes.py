"""Writes to authorization codes: issuance, single-use redemption, replay (RFC 6749 §4.1.2)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from kernel import credentials
from oauth import rowsql, selectors
from oauth.backchannel.services import session_client_record
from oauth.models import AuthorizationCode, Client, GrantFamily, Token
from oauth.security_profile import requirements
from oauth.services.tokens import (
    family_revoke,
    purge_after,
    refresh_lifetime_for,
    security_event_record,
    token_row,
)


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
    amr: list[str] | None = None,
    dpop_jkt: str = "",
    sid: str = "",
) -> AuthorizationCode:
    """Store an authorization code (RFC 6749 §4.1.2) as a digest; one INSERT (and, with a
    ``sid``, one that does nothing once the session knows the client).

    ``amr`` is how the user signed in (RFC 8176), for the id_token's ``amr`` and ``acr``.
    ``redirect_uri`` is the one the request named ("" if it named none, RFC 6749 §4.1.3).
    The code lives ``IssuerSettings.authorization_code_lifetime`` seconds (default 60), at
    most the client's profile's ``max_code_lifetime`` (FAPI 2.0 §5.3.2.1 item 6: 60 s).
    ``sid`` is the browser session's OIDC session id: it goes into the id_token, and the
    session remembers the client for back-channel logout (``oauth.backchannel``).
    """
    now = timezone.now()
    policy = selectors.issuer_policy(fresh=True)
    cap = requirements(client, policy=policy).max_code_lifetime
    lifetime = min(policy.authorization_code_lifetime, cap or policy.authorization_code_lifetime)
    expires_at = now + timedelta(seconds=lifetime)
    row = AuthorizationCode(
        code_digest=credentials.digest(code),
        client=client,
        user=user,
        redirect_uri=redirect_uri,
        scope=scope,
        resource=resource,
        nonce=nonce,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        dpop_jkt=dpop_jkt,
        auth_time=auth_time,
        amr=" ".join(amr or ()),
        sid=sid,
        created_at=now,
        expires_at=expires_at,
        purge_after=purge_after(expires_at),
    )
    row.save(force_insert=True)
    session_client_record(sid=sid, client=client, user=user)
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
    dpop_jkt: str | None = None,
) -> RedemptionResult:
    """Exchange a code for tokens, once (RFC 6749 §4.1.2, §4.1.3).

    The code row is locked, so of two concurrent redemptions one issues and the other sees
    the code used. A used code presented again is a replay: the family it started is
    revoked, rotated descendants included, and the caller answers ``invalid_grant``.
    """
    # The ORM's select_for_update().get(), create() and save() as statements built once
    # (``oauth.rowsql``): the same lock and the same writes.
    code = rowsql.get_by_pk(AuthorizationCode, code_id, lock=True)
    now = timezone.now()
    if code.used_at is not None:
        _replayed(code, client)
        return RedemptionResult(Redemption.REPLAYED)
    if code.expires_at <= now:
        return RedemptionResult(Redemption.EXPIRED)
    lifetime = refresh_lifetime_for(client)
    row = token_row(
        client=client,
        token=token,
        now=now,
        user_id=code.user_id,
        audience=code.resource if audience is None else audience,
        refresh_lifetime=lifetime,
        jti=jti,
        dpop_jkt=dpop_jkt,
    )
    family = GrantFamily(
        client=client,
        user_id=code.user_id,
        scope=code.scope,
        resource=code.resource,
        nonce=code.nonce,
        auth_time=code.auth_time,
        purge_after=row.purge_after,
        created_at=now,  # auto_now_add, which save() would have set
    )
    rowsql.insert(family)
    row.family = family
    rowsql.insert(row)
    code.used_at = now
    code.family = family
    rowsql.update_fields(code, ("used_at", "family"))
    return RedemptionResult(Redemption.ISSUED, row)


@transaction.atomic
def authorization_code_replayed(*, code_id: int) -> None:
    """A used code was presented again: revoke the family it started (RFC 6749 §4.1.2)."""
    code = AuthorizationCode.objects.select_for_update().get(pk=code_id)
    _replayed(code, Client.objects.get(pk=code.client_id))


def _replayed(code: AuthorizationCode, client: Client) -> None:
    """Revoke what the used ``code`` started and audit the replay (in the caller's
    transaction, under the code's row lock)."""
    if code.family_id is not None:
        family_revoke(family_id=code.family_id, reason="authorization code replayed")
    security_event_record(
        action="security.code_replayed",
        client=client,
        family_id=code.family_id,
        user_id=code.user_id,
    )
