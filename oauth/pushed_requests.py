"""Pushed authorization requests (RFC 9126) at rest: what ``/oauth/par`` validated, kept
under its ``request_uri`` until the authorization endpoint uses it once or it expires.

Storage: Redis through the Django cache, with a TTL, rather than a table in the tenant's
schema. A pushed request lives ``PAR_LIFETIME_SECONDS`` (60 s by default, RFC 9126 §2.2
"short-lived"; FAPI 2.0 §5.3.2.2 item 4 asks for under 600 s), so Redis's expiry is the purge
and no worker task or migration is needed; losing the cache (a Redis restart) costs only
requests that were at most a minute from expiring anyway. The cache's key function carries
the tenant's schema (``django_tenants.cache.make_key``), so a ``request_uri`` of one tenant
is not even looked up at another; the record also names its client, checked on use.

The ``request_uri`` is a 256-bit random value (``kernel.credentials.new_secret``) and only
its digest is part of the key (DESIGN.md §3): a cache dump does not hand out usable
``request_uri`` values. One-time use (RFC 9126 §4) is Redis's atomic ``DEL``: of two
requests that present the same ``request_uri`` when a code is issued, one deletes the record
and the other finds nothing. The record is read, not deleted, while the user signs in and
consents (RFC 9126 §4 allows reloads), and deleted when the decision is made.

When Redis is down, the fail-open cache stores nothing: the push is then answered 503 (the
client may retry), never with a ``request_uri`` that cannot work.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from django.core.cache import cache

from kernel import credentials
from kernel.conf import setting

#: RFC 9126 §2.2: "urn:ietf:params:oauth:request_uri:" and a reference value.
URN_PREFIX = "urn:ietf:params:oauth:request_uri:"


class PushedRequestError(Exception):
    """The ``request_uri`` cannot be used; the message says why, in words for the user."""


@dataclass(frozen=True)
class PushedRequest:
    """A stored pushed request: its client, its parameters as the authorization endpoint
    reads them, and when it was pushed (Unix seconds)."""

    request_uri: str
    client_id: str
    params: dict[str, list[str]]
    pushed_at: int


def lifetime() -> int:
    """Seconds a ``request_uri`` stays usable (``GATEHOUSE["PAR_LIFETIME_SECONDS"]``)."""
    return int(setting("PAR_LIFETIME_SECONDS"))


def is_pushed_request_uri(value: str) -> bool:
    return value.startswith(URN_PREFIX)


def _key(request_uri: str) -> str:
    return f"oauth:par:{credentials.digest(request_uri)}"


def push(*, client_id: str, params: dict[str, list[str]]) -> tuple[str, int]:
    """Store a validated authorization request of ``client_id``; return its ``request_uri``
    and lifetime (RFC 9126 §2.2). Raises ``PushedRequestError`` when it could not be kept."""
    request_uri = URN_PREFIX + credentials.new_secret()
    ttl = lifetime()
    record = {"client_id": client_id, "params": params, "pushed_at": int(time.time())}
    if not cache.add(_key(request_uri), record, timeout=ttl):
        raise PushedRequestError("The request could not be stored now; try again.")
    return request_uri, ttl


def load(request_uri: str, *, client_id: str) -> PushedRequest:
    """The pushed request behind ``request_uri``, if ``client_id`` pushed it (RFC 9126 §4:
    the authorization server MUST verify that the request_uri belongs to the client)."""
    record = cache.get(_key(request_uri))
    if record is None:
        raise PushedRequestError(
            "This sign-in request has expired or was already used. "
            "Go back to the application and start signing in again."
        )
    if not hmac.compare_digest(record["client_id"].encode(), client_id.encode()):
        raise PushedRequestError(
            "This sign-in request was pushed by another application than the one named."
        )
    return PushedRequest(request_uri, record["client_id"], record["params"], record["pushed_at"])


def consume(request_uri: str) -> bool:
    """Use ``request_uri`` up (RFC 9126 §4, one-time use): True for the one caller that
    deleted it, False when it had expired or another request used it first."""
    return bool(cache.delete(_key(request_uri)))
