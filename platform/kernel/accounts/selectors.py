"""Reads of users and their sessions, in whatever schema the connection is on."""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.db.models import Q, QuerySet
from django.utils import timezone

from kernel.accounts.models import User, UserSession


def users_search(*, query: str = "") -> QuerySet[User]:
    """Users whose user name, email or name contains ``query``, by user name."""
    users = User.objects.order_by("username")
    if query:
        users = users.filter(
            Q(username__icontains=query)
            | Q(email__icontains=query)
            | Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
        )
    return users


def user_sessions(*, user: User) -> list[UserSession]:
    """``user``'s sessions that are still live in the session store (database sessions,
    ``SESSION_ENGINE``), newest first; an expired or flushed one is not listed."""
    indexed = list(UserSession.objects.filter(user=user).order_by("-created_at", "-pk"))
    live = set(
        Session.objects.filter(
            session_key__in=[s.session_key for s in indexed], expire_date__gt=timezone.now()
        ).values_list("session_key", flat=True)
    )
    return [s for s in indexed if s.session_key in live]
