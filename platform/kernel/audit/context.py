"""Who is acting: set once per request (``AuditActorMiddleware``) or per operator command,
read by ``audit_record``, so services need no actor argument threaded through every call."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kernel.http import client_ip


@dataclass(frozen=True)
class Actor:
    id: str = ""  # the acting user's id in this schema; "" for the system or an operator
    label: str = "system"
    ip: str = ""


SYSTEM = Actor()
_actor: contextvars.ContextVar[Actor] = contextvars.ContextVar("gatehouse_actor", default=SYSTEM)


def current_actor() -> Actor:
    return _actor.get()


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def actor_for_request(request) -> Actor:
    """The signed-in user of ``request`` (or "anonymous") and the client's address."""
    user = getattr(request, "user", None)
    ip = client_ip(request)
    if user is not None and user.is_authenticated:
        return Actor(id=str(user.pk), label=user.get_username(), ip=ip)
    return Actor(id="", label="anonymous", ip=ip)
