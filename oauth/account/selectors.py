"""Reads for the account page: the user's connected apps with their last use, and their
sessions with when each was last seen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db.models import Max

from kernel.accounts import selectors as account_selectors
from oauth import selectors
from oauth.models import Token


@dataclass(frozen=True)
class ConnectedApp:
    client: object
    scopes: list[str]
    consented_at: object
    last_used: object


def connected_apps(*, user) -> list[ConnectedApp]:
    """Each client ``user`` consented to or holds a live grant with, with the scopes, and
    when it last got a token for them (tokens are kept for their retention, so "never"
    means "not recently")."""
    grants = selectors.user_grants(user=user)
    last = dict(
        Token.objects.filter(user=user, client__in=[g.client for g in grants])
        .values_list("client_id")
        .annotate(last=Max("issued_at"))
    )
    return [
        ConnectedApp(
            client=g.client,
            scopes=g.scope.split(),
            consented_at=g.consented_at,
            last_used=last.get(g.client.pk),
        )
        for g in grants
    ]


@dataclass(frozen=True)
class SessionRow:
    session: object
    last_seen: object
    current: bool


def sessions(*, user, current_key: str | None) -> list[SessionRow]:
    """``user``'s live sessions, newest first. A session is saved (and its expiry pushed
    back by ``SESSION_COOKIE_AGE``) whenever it changes, so its expiry tells when it was
    last active without a write on every request."""
    live = account_selectors.user_sessions(user=user)
    expiry = dict(
        Session.objects.filter(session_key__in=[s.session_key for s in live]).values_list(
            "session_key", "expire_date"
        )
    )
    age = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    rows = []
    for session in live:
        seen = expiry[session.session_key] - age if session.session_key in expiry else None
        seen = max(seen, session.created_at) if seen else session.created_at
        rows.append(SessionRow(session, seen, session.session_key == current_key))
    return rows
