"""Writes of OpenID Connect Back-Channel Logout 1.0: which clients each session signed in to,
who is owed a logout token when a session ends, and the attempts to deliver it.

§2.5: the OP sends a logout token to each RP the user is logged in to, in the session that
ended. The session (``sid``, ``kernel.accounts.models.UserSession.sid``) and the clients it
got codes for (``SessionClient``) are recorded when a code is issued; the sign-out paths all
end sessions through ``kernel.accounts.services`` (RP-initiated logout and any other sign-out
through Django's ``logout``; the console's "end session"; a password reset or change; a user
disabled or deleted), which sends ``sessions_ended``. Its receiver here writes one outbox row
(``BackchannelLogoutDelivery``) per client with a ``backchannel_logout_uri``, in the ending
transaction, and once it commits sends ``signals.logout_due`` for the workers layer to
enqueue; nothing is POSTed on the user's request. Nothing is lost if that message is: the
row stays pending until a worker records an outcome on it (``logout_delivery_attempt``), the
sweep enqueues it again when it is overdue (``selectors.logout_deliveries_overdue``), and the
purge gives up on it only after ``MAX_PENDING_SECONDS``, audited (``logout_deliveries_purged``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, get_tenant_domain_model

from kernel.audit.services import audit_record
from kernel.conf import setting
from kernel.http import public_url
from oauth.backchannel.backoff import retry_delay
from oauth.backchannel.signals import logout_due
from oauth.backchannel.tokens import build_logout_token
from oauth.fetch import FetchError
from oauth.fetch_post import post_form
from oauth.models import BackchannelLogoutDelivery, Client, SessionClient

#: §2.8: the RP answers 200 OK (many send 204 No Content) when it logged the user out.
DELIVERED_STATUSES = (200, 204)
#: 4xx answers worth another try (a timeout or a rate limit); any other 4xx refuses the token.
RETRYABLE_CLIENT_ERRORS = (408, 425, 429)


def session_client_record(*, sid: str, client: Client, user) -> None:
    """Remember that ``client`` got an authorization code in the browser session ``sid``
    (§2.5). One INSERT that does nothing when the pair is known already; nothing without a
    ``sid`` (a session signed in before sids existed) or for a client with no row."""
    if not sid or client.pk is None or user is None:
        return
    SessionClient.objects.bulk_create(
        [SessionClient(sid=sid, client=client, user=user, created_at=timezone.now())],
        ignore_conflicts=True,
    )


def _issuer() -> str:
    """The tenant's issuer, as ``oauth.selectors.issuer_for_request`` names it: the Domain
    that routed the request (``domain_url``) or, outside a request (an operator command in
    ``schema_context``), the tenant's primary domain; "" when it has none."""
    host = getattr(connection.tenant, "domain_url", None)
    if not host:
        domain = (
            get_tenant_domain_model()
            .objects.filter(tenant__schema_name=connection.schema_name, is_primary=True)
            .first()
        )
        host = domain.domain if domain else ""
    return public_url(host) if host else ""


def sessions_ended_receiver(sender, user_id, sids, **kwargs) -> None:
    """``kernel.accounts.signals.sessions_ended``: the clients of these sessions with a
    ``backchannel_logout_uri`` (and not disabled) are owed a logout token; the session's
    rows go. One outbox row per (client, session) is written in the ending transaction, so
    a rolled-back sign-out owes nobody anything and a committed one has every row; once it
    commits, ``logout_due`` names them with the tenant's schema, so every task runs in this
    tenant (clients of other tenants live in other schemas and are never read here)."""
    sids = [sid for sid in sids if sid]
    if not sids or connection.schema_name == get_public_schema_name():
        return  # operators sign in to the public schema, where no client lives
    rows = SessionClient.objects.filter(sid__in=sids)
    due = list(
        rows.filter(client__disabled=False)
        .exclude(client__backchannel_logout_uri="")
        .values_list("client_id", "sid")
        .distinct()
    )
    rows.delete()
    if not due:
        return
    schema, issuer, sub = connection.schema_name, _issuer(), str(user_id)
    if not issuer:
        return  # a schema without a domain has no issuer, so no client signed in there
    now = timezone.now()
    give_up_at = now + timedelta(seconds=int(setting("BACKCHANNEL_LOGOUT")["MAX_PENDING_SECONDS"]))
    deliveries = BackchannelLogoutDelivery.objects.bulk_create(
        [
            BackchannelLogoutDelivery(
                client_id=client_pk,
                sub=sub,
                sid=sid,
                issuer=issuer,
                next_attempt_at=now,
                purge_after=give_up_at,
                created_at=now,
                updated_at=now,
            )
            for client_pk, sid in due
        ]
    )
    delivery_ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(
        lambda: logout_due.send(
            sender=BackchannelLogoutDelivery, schema=schema, delivery_ids=delivery_ids
        ),
        robust=True,  # a sign-out that committed is never failed by its notifications
    )


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    #: The client is gone, disabled or no longer has a back-channel logout URI.
    DROPPED = "dropped"


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    #: Seconds until the next attempt, when ``outcome`` is ``RETRY``.
    retry_in: int = 0


def _outcome(status: int | None, *, final: bool) -> Outcome:
    if status in DELIVERED_STATUSES:
        return Outcome.DELIVERED
    if status is not None and 300 <= status < 400:
        return Outcome.FAILED  # redirects are never followed (SSRF): it would answer the same
    if status is not None and 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS:
        return Outcome.FAILED  # §2.8: the client could not use the token; it would again
    return Outcome.FAILED if final else Outcome.RETRY


_ACTIONS = {
    Outcome.DELIVERED: "client.backchannel_logout_delivered",
    Outcome.RETRY: "client.backchannel_logout_retrying",
    Outcome.FAILED: "client.backchannel_logout_failed",
}
_FINAL_STATES = {
    Outcome.DELIVERED: BackchannelLogoutDelivery.State.DELIVERED,
    Outcome.FAILED: BackchannelLogoutDelivery.State.FAILED,
    Outcome.DROPPED: BackchannelLogoutDelivery.State.DROPPED,
}


def logout_deliver(*, client_id: str, issuer: str, sub: str, sid: str, attempt: int) -> Delivery:
    """Attempt ``attempt`` (from 1) to POST a fresh logout token for ``sub``/``sid`` to the
    client's ``backchannel_logout_uri`` (§2.5, §2.7: ``logout_token`` in a form body).

    Each attempt signs a new token (its short ``exp`` must not run out between retries) and
    is audited with its outcome, the HTTP status or the reason it could not be sent, never
    the token. A network failure, a 5xx, 408, 425 or 429 is retried until
    ``GATEHOUSE["BACKCHANNEL_LOGOUT"]["ATTEMPTS"]``; any other answer (a redirect, which is
    not followed, or another 4xx) is final."""
    client = Client.objects.filter(client_id=client_id).first()
    return _deliver_to(client, issuer=issuer, sub=sub, sid=sid, attempt=attempt)


def _deliver_to(
    client: Client | None, *, issuer: str, sub: str, sid: str, attempt: int
) -> Delivery:
    """``logout_deliver`` for a client row already read (None: gone)."""
    if client is None or client.disabled or not client.backchannel_logout_uri:
        return Delivery(Outcome.DROPPED)
    options = setting("BACKCHANNEL_LOGOUT")
    token = build_logout_token(issuer=issuer, client=client, sub=sub, sid=sid)
    status, problem = None, ""
    try:
        status = post_form(
            client.backchannel_logout_uri,
            {"logout_token": token},
            timeout=float(options["TIMEOUT_SECONDS"]),
        )
    except FetchError as error:
        problem = str(error)
    outcome = _outcome(status, final=attempt >= int(options["ATTEMPTS"]))
    retry_in = retry_delay(attempt) if outcome is Outcome.RETRY else 0
    changes = {"user": sub, "attempt": attempt, "status": status}
    if problem:
        changes["error"] = problem
    if retry_in:
        changes["retry_in_seconds"] = retry_in
    with transaction.atomic():
        audit_record(
            action=_ACTIONS[outcome],
            object_type="client",
            object_id=client.client_id,
            object_label=client.name,
            changes=changes,
        )
    return Delivery(outcome, retry_in)


def logout_delivery_attempt(*, delivery_id: int) -> Delivery | None:
    """The next attempt at the outbox row ``delivery_id``, and its outcome recorded there:
    delivered, failed or dropped, or still pending with one more attempt counted and
    ``next_attempt_at`` after the back-off (``retry_in`` of the answer).

    The row is locked for the attempt (``SKIP LOCKED``), so of two workers given the same
    row at once one attempts it and the other gets None at once, as for a row that is gone
    (its client deleted), finished, or not due yet (a duplicate message, the sweep's or a
    retry's, arriving early). The POST (at most ``TIMEOUT_SECONDS``) runs inside that
    transaction: the attempt's audit row and the row's new state commit together, and a
    worker that dies mid-attempt leaves the row as it was, for the sweep."""
    options = setting("BACKCHANNEL_LOGOUT")
    with transaction.atomic():
        row = (
            BackchannelLogoutDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("client")
            .filter(
                pk=delivery_id,
                state=BackchannelLogoutDelivery.State.PENDING,
                next_attempt_at__lte=timezone.now(),
            )
            .first()
        )
        if row is None:
            return None
        delivery = _deliver_to(  # the client as the row's join read it: no second query
            row.client,
            issuer=row.issuer,
            sub=row.sub,
            sid=row.sid,
            attempt=row.attempts + 1,
        )
        row.updated_at = timezone.now()
        if delivery.outcome is not Outcome.DROPPED:
            row.attempts += 1
        if delivery.outcome is Outcome.RETRY:
            row.next_attempt_at = row.updated_at + timedelta(seconds=delivery.retry_in)
        else:
            row.state = _FINAL_STATES[delivery.outcome]
            row.purge_after = row.updated_at + timedelta(seconds=int(options["RETENTION_SECONDS"]))
        row.save(
            update_fields=["attempts", "state", "next_attempt_at", "purge_after", "updated_at"]
        )
    return delivery


def logout_deliveries_purged(rows: list[tuple[int, str, str, int]]) -> int:
    """The purge deleted these outbox rows (``workers.purge``, in its batch's transaction and
    in their schema), as (client pk, state, sub, attempts). A finished row goes quietly; one
    still pending was owed for ``MAX_PENDING_SECONDS`` and never delivered (a broker or a
    client away that long): it is given up on and audited as failed, like a last attempt
    that failed. Returns how many were given up on."""
    given_up = [row for row in rows if row[1] == BackchannelLogoutDelivery.State.PENDING]
    if not given_up:
        return 0
    clients = {
        pk: (client_id, name)
        for pk, client_id, name in Client.objects.filter(
            pk__in={row[0] for row in given_up}
        ).values_list("pk", "client_id", "name")
    }
    max_age = int(setting("BACKCHANNEL_LOGOUT")["MAX_PENDING_SECONDS"])
    for client_pk, _state, sub, attempts in given_up:
        if client_pk not in clients:
            continue  # deleted with its rows (CASCADE) after this batch read them
        client_id, name = clients[client_pk]
        audit_record(
            action=_ACTIONS[Outcome.FAILED],
            object_type="client",
            object_id=client_id,
            object_label=name,
            changes={
                "user": sub,
                "attempt": attempts,
                "status": None,
                "error": f"not delivered within {max_age} seconds of the sign-out: given up",
            },
        )
    return len(given_up)
