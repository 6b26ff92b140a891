"""Writes to device authorizations (RFC 8628): issuance, the user's decision, polling with
``slow_down`` enforced per device code, single-use redemption and replay."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from kernel import credentials
from kernel.audit.services import audit_record
from kernel.conf import setting
from oauth.device import codes
from oauth.models import Client, DeviceAuthorization, GrantFamily, Token
from oauth.services.tokens import (
    family_revoke,
    purge_after,
    refresh_lifetime_for,
    security_event_record,
    token_row,
)

#: RFC 8628 §3.5: each ``slow_down`` adds this many seconds to the device code's interval.
SLOW_DOWN_SECONDS = 5
#: The interval never grows past this (a runaway client is refused, not counted forever).
MAX_INTERVAL_SECONDS = 300
#: Fresh user codes tried when one collides with a stored one (20^8 codes: never twice).
USER_CODE_ATTEMPTS = 5


@dataclass(frozen=True)
class IssuedDeviceAuthorization:
    """What the device authorization response shows, once (§3.2); only digests are kept."""

    row: DeviceAuthorization
    device_code: str
    user_code: str  # as shown: XXXX-XXXX


def device_authorization_create(
    *, client: Client, scope: str, resource: str = ""
) -> IssuedDeviceAuthorization:
    """Store a device authorization request (§3.1, §3.2): a 256-bit device code and a user
    code (§6.1), both as digests, living ``DEVICE_FLOW["LIFETIME_SECONDS"]``, polled at
    ``DEVICE_FLOW["INTERVAL_SECONDS"]`` to begin with. One INSERT (in a savepoint, retried
    with a fresh user code on the rare collision with a stored one)."""
    limits = setting("DEVICE_FLOW")
    now = timezone.now()
    expires_at = now + timedelta(seconds=int(limits["LIFETIME_SECONDS"]))
    device_code = credentials.new_secret()
    for attempt in range(USER_CODE_ATTEMPTS):
        user_code = codes.new_user_code()
        row = DeviceAuthorization(
            device_code_digest=credentials.digest(device_code),
            user_code_digest=codes.digest(codes.normalise(user_code)),
            client=client,
            scope=scope,
            resource=resource,
            created_at=now,
            expires_at=expires_at,
            interval_seconds=int(limits["INTERVAL_SECONDS"]),
            purge_after=purge_after(expires_at),
        )
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            if attempt == USER_CODE_ATTEMPTS - 1:
                raise
            continue
        return IssuedDeviceAuthorization(row, device_code, user_code)
    raise AssertionError("unreachable")


class Decision(enum.Enum):
    RECORDED = "recorded"
    EXPIRED = "expired"
    ALREADY_DECIDED = "already_decided"


@transaction.atomic
def device_authorization_decide(
    *,
    authorization_id: int,
    user,
    approve: bool,
    auth_time: datetime,
    amr: list[str],
) -> Decision:
    """The user's answer on ``/device`` (§3.3): approved for ``user`` (with how and when
    they signed in, for the id_token) or denied; once, under the row's lock, and audited."""
    row = (
        DeviceAuthorization.objects.select_for_update()
        .select_related("client")
        .get(pk=authorization_id)
    )
    now = timezone.now()
    if row.state != DeviceAuthorization.State.PENDING:
        return Decision.ALREADY_DECIDED
    if row.expires_at <= now:
        return Decision.EXPIRED
    row.state = DeviceAuthorization.State.APPROVED if approve else DeviceAuthorization.State.DENIED
    row.user = user
    row.decided_at = now
    row.auth_time = auth_time
    row.amr = " ".join(amr)
    row.save(update_fields=["state", "user", "decided_at", "auth_time", "amr"])
    audit_record(
        action="device.approved" if approve else "device.denied",
        object_type="client",
        object_id=row.client.client_id,
        object_label=row.client.name,
        changes={"user": str(user.pk), "scope": row.scope},
    )
    return Decision.RECORDED


def device_authorization_poll(*, authorization_id: int) -> bool:
    """One poll of a pending device code (§3.4, §3.5): True when it came at least
    ``interval`` seconds after the previous one; otherwise False (``slow_down``), and the
    interval of this device code grows by ``SLOW_DOWN_SECONDS``.

    Decided in the UPDATE itself (``WHERE last_polled_at <= now - interval``), so of two
    concurrent polls one at most is in time: the second finds the first's timestamp. A
    poll too fast moves ``last_polled_at`` too, so a client must really wait the new
    interval after a ``slow_down``."""
    table = connection.ops.quote_name(DeviceAuthorization._meta.db_table)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_polled_at = %s WHERE id = %s AND (last_polled_at IS NULL "
            "OR last_polled_at <= %s - make_interval(secs => interval_seconds))",
            [now, authorization_id, now],
        )
        if cursor.rowcount:
            return True
        cursor.execute(
            f"UPDATE {table} SET last_polled_at = %s, "
            "interval_seconds = LEAST(interval_seconds + %s, %s) WHERE id = %s",
            [now, SLOW_DOWN_SECONDS, MAX_INTERVAL_SECONDS, authorization_id],
        )
    return False


class Redemption(enum.Enum):
    ISSUED = "issued"
    RACE_LOST = "race_lost"
    NOT_APPROVED = "not_approved"
    EXPIRED = "expired"


@dataclass(frozen=True)
class RedemptionResult:
    outcome: Redemption
    token: Token | None = None


@transaction.atomic
def device_authorization_redeem(
    *,
    authorization_id: int,
    client: Client,
    token: dict,
    jti: str | None = None,
    audience: str = "",
    dpop_jkt: str | None = None,
) -> RedemptionResult:
    """Exchange an approved device code for tokens, once (§3.5): under the row's lock, so
    of two concurrent polls one issues and the other finds the code consumed. The tokens
    start a grant family (refresh rotation, revocation), as a code exchange does."""
    row = DeviceAuthorization.objects.select_for_update().get(pk=authorization_id)
    now = timezone.now()
    if row.state == DeviceAuthorization.State.CONSUMED:
        # Approved when the caller read it, consumed now: a concurrent poll won. A lost race
        # revokes nothing (the winner keeps its tokens); a later replay does (the grant's
        # ``validate_token_request`` sees the code consumed: ``device_code_replayed``).
        return RedemptionResult(Redemption.RACE_LOST)
    if row.state != DeviceAuthorization.State.APPROVED:
        return RedemptionResult(Redemption.NOT_APPROVED)
    if row.expires_at <= now:
        return RedemptionResult(Redemption.EXPIRED)
    token_record = token_row(
        client=client,
        token=token,
        now=now,
        user_id=row.user_id,
        audience=audience,
        refresh_lifetime=refresh_lifetime_for(client),
        jti=jti,
        dpop_jkt=dpop_jkt,
    )
    family = GrantFamily.objects.create(
        client=client,
        user_id=row.user_id,
        scope=row.scope,
        resource=row.resource,
        auth_time=row.auth_time,
        purge_after=token_record.purge_after,
    )
    token_record.family = family
    token_record.save(force_insert=True)
    row.state = DeviceAuthorization.State.CONSUMED
    row.consumed_at = now
    row.family = family
    row.save(update_fields=["state", "consumed_at", "family"])
    return RedemptionResult(Redemption.ISSUED, token_record)


@transaction.atomic
def device_code_replayed(*, authorization_id: int, reuse_window: int) -> bool:
    """A consumed device code was presented again. Within ``reuse_window`` seconds of its
    redemption it is a concurrent poll that lost (a device that sent two at once): nothing
    is revoked, as for a refresh token (DESIGN.md §3). Later it is a replay: what the code
    started is revoked (as for a replayed authorization code, RFC 6749 §4.1.2) and audited.
    Returns whether it was a replay."""
    row = DeviceAuthorization.objects.select_for_update().get(pk=authorization_id)
    if row.consumed_at and timezone.now() - row.consumed_at <= timedelta(seconds=reuse_window):
        return False
    if row.family_id is not None:
        family_revoke(family_id=row.family_id, reason="device code replayed")
    security_event_record(
        action="security.device_code_replayed",
        client=Client.objects.get(pk=row.client_id),
        family_id=row.family_id,
        user_id=row.user_id,
    )
    return True
