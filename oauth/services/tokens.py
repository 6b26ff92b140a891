"""Writes to tokens and grant families: issuance, refresh rotation, revocation.

RFC 6749 §4.4.3, §6; RFC 7009 §2.1; RFC 9700 §4.14.2 (refresh rotation, reuse detection).
"""

from __future__ import annotations

import enum
import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from kernel import credentials
from kernel.audit.services import audit_record
from oauth import rowsql, selectors
from oauth.models import Client, GrantFamily, IssuerSettings, Token

logger = logging.getLogger(__name__)


def purge_after(*expiries: datetime | None) -> datetime:
    """When a row may be purged: its latest expiry plus the retention that replay and reuse
    detection need (DESIGN.md §3)."""
    latest = max(e for e in expiries if e is not None)
    return latest + timedelta(seconds=selectors.token_retention_seconds())


def token_row(
    *,
    client: Client,
    token: dict,
    now: datetime,
    user_id=None,
    family: GrantFamily | None = None,
    audience: str = "",
    refresh_lifetime: int | None = None,
    jti: str | None = None,
    dpop_jkt: str | None = None,
) -> Token:
    access_expires_at = now + timedelta(seconds=int(token["expires_in"]))
    refresh = token.get("refresh_token")
    refresh_expires_at = now + timedelta(seconds=refresh_lifetime) if refresh else None
    return Token(
        client=client,
        user_id=user_id,
        family=family,
        access_digest=credentials.digest(token["access_token"]),
        refresh_digest=credentials.digest(refresh) if refresh else None,
        scope=token.get("scope", ""),
        audience=audience,
        jti=jti,
        issued_at=now,
        access_expires_at=access_expires_at,
        refresh_expires_at=refresh_expires_at,
        purge_after=purge_after(access_expires_at, refresh_expires_at),
        dpop_jkt=dpop_jkt,
    )


class StaleClient(Exception):
    """The client changed, or was disabled, after the request read it: answer again from a
    fresh read (``oauth.server``)."""


@functools.cache
def _confirmed_insert_sql() -> tuple[str, list]:
    """``INSERT INTO oauth_token (...) SELECT <values> WHERE EXISTS (<the client row, still
    as read and enabled>) RETURNING id``, and the fields in the order of its values."""
    qn = connection.ops.quote_name
    fields = [f for f in Token._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(qn(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {rowsql.table(Token)} ({columns}) SELECT {placeholders} "
        f"WHERE {selectors.client_unchanged_sql()} "
        f"AND {rowsql.row_version_sql(IssuerSettings)} "
        f"RETURNING {qn(Token._meta.pk.column)}"
    )
    return sql, fields


def token_issue(
    *,
    client: Client,
    token: dict,
    audience: str = "",
    jti: str | None = None,
    dpop_jkt: str | None = None,
) -> Token:
    """Store a client-credentials access token (RFC 6749 §4.4.3: no refresh token).

    One INSERT, which is atomic by itself: this is the benchmarked hot path, and wrapping
    it in ``transaction.atomic`` would only add a BEGIN and a COMMIT round trip. The same
    statement confirms that ``client`` is still enabled and unchanged since it was read
    (its ``updated_at``), so a client read from the process's cache
    (``selectors.client_by_client_id(cached=True)``) can never issue a token after a
    disable, a secret rotation or an edit: nothing is written and ``StaleClient`` is raised.
    It confirms the tenant's issuer policy the same way when the request used one from past
    its short lifetime (``selectors.confirmed_issuer_policy``).
    Built from the model's fields once; values prepared by each field, as the ORM does.
    """
    row = token_row(
        client=client,
        token=token,
        now=timezone.now(),
        audience=audience,
        jti=jti,
        dpop_jkt=dpop_jkt,
    )
    sql, fields = _confirmed_insert_sql()
    values = [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields]
    with rowsql.qualified_cursor() as cursor:
        version = selectors.policy_version_to_confirm()
        cursor.execute(
            rowsql.in_schema(sql), [*values, client.pk, client.updated_at, version, version]
        )
        inserted = cursor.fetchone()
    if inserted is None:
        raise StaleClient(client.client_id)
    selectors.policy_confirmed()
    row.pk = inserted[0]
    row._state.adding = False
    row._state.db = connection.alias
    return row


def refresh_lifetime_for(client: Client) -> int:
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


def security_event_record(
    *, action: str, client: Client, family_id: int | None, user_id: object
) -> None:
    """Audit a credential presented where it must not be (refresh reuse, code replay): the
    client it was issued to, the grant family revoked for it and its user, never the value.
    Called inside the transaction that revokes, so the event and the revocation go together.
    """
    audit_record(
        action=action,
        object_type="client",
        object_id=client.client_id,
        object_label=client.name,
        changes={
            "grant family": family_id,
            "user": None if user_id is None else str(user_id),
        },
    )


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
            # True whether the other use was concurrent or a moment earlier: the server cannot
            # tell which, only that the token was rotated within the reuse window.
            Rotation.RACE_LOST: (
                "The refresh token was already used moments ago; use the refresh token "
                "issued then. The grant was not revoked."
            ),
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
    dpop_jkt: str | None = None,
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
    # The ORM's select_for_update().get() and save() as statements built once
    # (``oauth.rowsql``): the same locks, in the same order, and the same writes.
    family = rowsql.get_by_pk(GrantFamily, family_id, lock=True)
    old = rowsql.get_by_pk(Token, token_id, lock=True)
    now = timezone.now()
    if old.revoked_at is not None or family.revoked_at is not None:
        return RotationResult(Rotation.INVALID)
    if old.retired_at is not None:
        if reuse_window and now - old.retired_at <= timedelta(seconds=reuse_window):
            return RotationResult(Rotation.RACE_LOST)
        family_revoke(family_id=family.pk, reason="refresh token reused")
        security_event_record(
            action="security.refresh_token_reused",
            client=client,
            family_id=family.pk,
            user_id=family.user_id,
        )
        return RotationResult(Rotation.REUSED)
    if old.is_refresh_expired():
        return RotationResult(Rotation.INVALID)
    row = token_row(
        client=client,
        token=token,
        now=now,
        user_id=old.user_id,
        family=family,
        audience=old.audience if audience is None else audience,
        dpop_jkt=dpop_jkt,
        refresh_lifetime=refresh_lifetime_for(client),
        jti=jti,
    )
    rowsql.insert(row)
    old.retired_at = now
    rowsql.update_fields(old, ("retired_at",))
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
