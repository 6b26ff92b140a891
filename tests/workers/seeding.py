"""Purgeable and still-needed rows in a tenant, created directly with the ORM and SQL.

Every seeded row carries a per-call tag, so a test counts only its own rows even when the
shared test database holds other tests' data, and cleans up after itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from tests.support.tenants import TenantInfo


@dataclass
class Seeded:
    tenant: TenantInfo
    tag: str
    client_pk: int
    user_pk: object
    purgeable: dict[str, set] = field(default_factory=dict)
    needed: dict[str, set] = field(default_factory=dict)
    bulk_tokens: int = 0


def _models():
    from oauth.models import AuthorizationCode, BackchannelLogoutDelivery, GrantFamily, Token

    return {
        "tokens": Token,
        "authorization_codes": AuthorizationCode,
        "grant_families": GrantFamily,
        "sessions": Session,
        "backchannel_logout_deliveries": BackchannelLogoutDelivery,
    }


def seed(tenant: TenantInfo, *, bulk_tokens: int = 0) -> Seeded:
    """Run inside the tenant's schema, outside the test transaction (``commit(tenant)``).

    Purgeable: a token past purge_after, one in a dead family, that family, a used code past
    its retention, an expired session, a delivered logout token past its retention and one
    pending past its maximum age, and ``bulk_tokens`` more tokens past purge_after.
    Still needed: a token whose access token expired but whose retention has not, a live
    refresh token in a family whose own purge_after already passed (the family must wait
    for it), a used code within retention and its family, a live session, a logout token
    still pending (its next attempt later).
    """
    from kernel.accounts.models import User
    from oauth.models import (
        AuthorizationCode,
        BackchannelLogoutDelivery,
        Client,
        GrantFamily,
        Token,
    )

    now = timezone.now()
    past, future = now - timedelta(days=2), now + timedelta(days=2)
    tag = uuid.uuid4().hex[:12]
    user = User.objects.create(username=f"wk-{tag}")
    client = Client.objects.create(client_id=f"wk-{tag}", name=f"workers test {tag}")

    def token(label, **fields):
        defaults = {
            "client": client,
            "access_digest": f"wk{tag}{label}".ljust(64, "0"),
            "issued_at": now - timedelta(days=40),
            "access_expires_at": now - timedelta(days=39),
            "purge_after": past,
        }
        return Token.objects.create(**{**defaults, **fields}).pk

    def code(label, **fields):
        defaults = {
            "code_digest": f"wk{tag}{label}".ljust(64, "0"),
            "client": client,
            "user": user,
            "redirect_uri": "https://rp.example/cb",
            "auth_time": now - timedelta(days=3),
            "created_at": now - timedelta(days=3),
            "expires_at": now - timedelta(days=3) + timedelta(seconds=60),
            "used_at": now - timedelta(days=3),
            "purge_after": past,
        }
        return AuthorizationCode.objects.create(**{**defaults, **fields}).pk

    def session(label, expire_date):
        key = f"wk{tag}{label}"
        Session.objects.create(session_key=key, session_data="", expire_date=expire_date)
        return key

    def logout(label, state, purge_after):
        return BackchannelLogoutDelivery.objects.create(
            client=client,
            sub=f"wk-{tag}-{label}",
            issuer="https://rp.example",
            state=state,
            next_attempt_at=future,
            purge_after=purge_after,
            created_at=now - timedelta(days=3),
            updated_at=now - timedelta(days=3),
        ).pk

    dead_family = GrantFamily.objects.create(client=client, user=user, purge_after=past)
    live_family = GrantFamily.objects.create(client=client, user=user, purge_after=past)
    kept_family = GrantFamily.objects.create(client=client, user=user, purge_after=future)

    seeded = Seeded(tenant=tenant, tag=tag, client_pk=client.pk, user_pk=user.pk)
    seeded.purgeable = {
        "tokens": {token("gone"), token("deadfam", family=dead_family, user=user)},
        "authorization_codes": {code("gone", family=dead_family)},
        "grant_families": {dead_family.pk},
        "sessions": {session("gone", past)},
        "backchannel_logout_deliveries": {
            logout("delivered", "delivered", past),
            logout("given-up", "pending", past),
        },
    }
    seeded.needed = {
        "tokens": {
            token("retained", access_expires_at=now - timedelta(hours=1), purge_after=future),
            token(
                "liverefresh",
                family=live_family,
                user=user,
                access_expires_at=now + timedelta(hours=1),
                refresh_digest=f"wk{tag}refresh".ljust(64, "0"),
                refresh_expires_at=now + timedelta(days=1),
                purge_after=future,
            ),
        },
        "authorization_codes": {code("retained", family=kept_family, purge_after=future)},
        "grant_families": {live_family.pk, kept_family.pk},
        "sessions": {session("live", future)},
        "backchannel_logout_deliveries": {logout("pending", "pending", future)},
    }
    if bulk_tokens:
        insert_bulk_tokens(client_pk=client.pk, tag=tag, count=bulk_tokens, purge_after=past)
        seeded.bulk_tokens = bulk_tokens
    return seeded


def insert_bulk_tokens(*, client_pk: int, tag: str, count: int, purge_after) -> None:
    """``count`` purgeable tokens in one INSERT ... SELECT (the ORM would take seconds)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO oauth_token (client_id, access_digest, scope, audience, issued_at,
                                     access_expires_at, purge_after)
            SELECT %s, %s || lpad(g::text, 10, '0'), '', '', %s, %s, %s
            FROM generate_series(1, %s) AS g
            """,
            [client_pk, f"wkbulk{tag}", purge_after, purge_after, purge_after, count],
        )


def present(seeded: Seeded, which: str) -> dict[str, int]:
    """How many of the seeded ``which`` ("purgeable" or "needed") rows still exist, per kind.

    Bulk tokens count as purgeable tokens. Run inside the tenant's schema.
    """
    from oauth.models import Token

    models = _models()
    rows = getattr(seeded, which)
    counts = {kind: models[kind].objects.filter(pk__in=ids).count() for kind, ids in rows.items()}
    if which == "purgeable" and seeded.bulk_tokens:
        counts["tokens"] += Token.objects.filter(
            access_digest__startswith=f"wkbulk{seeded.tag}"
        ).count()
    return counts


def expected(seeded: Seeded, which: str) -> dict[str, int]:
    counts = {kind: len(ids) for kind, ids in getattr(seeded, which).items()}
    if which == "purgeable":
        counts["tokens"] += seeded.bulk_tokens
    return counts


def cleanup(seeded: Seeded) -> None:
    """Remove whatever of the seeded rows is left. Run inside the tenant's schema."""
    from kernel.accounts.models import User
    from oauth.models import AuthorizationCode, Client, GrantFamily, Token

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM oauth_token WHERE access_digest LIKE %s", [f"wkbulk{seeded.tag}%"]
        )
    Token.objects.filter(client_id=seeded.client_pk).delete()
    AuthorizationCode.objects.filter(client_id=seeded.client_pk).delete()
    GrantFamily.objects.filter(client_id=seeded.client_pk).delete()
    Client.objects.filter(pk=seeded.client_pk).delete()
    User.objects.filter(pk=seeded.user_pk).delete()
    Session.objects.filter(session_key__startswith=f"wk{seeded.tag}").delete()
