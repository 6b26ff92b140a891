"""Writes of OpenID Connect Back-Channel Logout 1.0: which clients each session signed in to,
who is told when a session ends, and one delivery attempt of a logout token.

§2.5: the OP sends a logout token to each RP the user is logged in to, in the session that
ended. The session (``sid``, ``kernel.accounts.models.UserSession.sid``) and the clients it
got codes for (``SessionClient``) are recorded when a code is issued; the sign-out paths all
end sessions through ``kernel.accounts.services`` (RP-initiated logout and any other sign-out
through Django's ``logout``; the console's "end session"; a password reset or change; a user
disabled or deleted), which sends ``sessions_ended``. Its receiver here picks the clients
with a ``backchannel_logout_uri`` and, once the transaction commits, sends
``signals.logout_due`` for the workers layer to enqueue; nothing is POSTed on the user's
request.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, get_tenant_domain_model

from kernel.audit.services import audit_record
from kernel.conf import setting
from kernel.http import public_url
from oauth.backchannel.signals import logout_due
from oauth.backchannel.tokens import build_logout_token
from oauth.fetch import FetchError
from oauth.fetch_post import post_form
from oauth.models import Client, SessionClient

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
    ``backchannel_logout_uri`` (and not disabled) are due a logout token; the session's
    rows go. ``logout_due`` is sent only when the ending transaction commits, with the
    tenant's schema, so a rolled-back sign-out notifies nobody and every task runs in this
    tenant (clients of other tenants live in other schemas and are never read here)."""
    sids = [sid for sid in sids if sid]
    if not sids or connection.schema_name == get_public_schema_name():
        return  # operators sign in to the public schema, where no client lives
    rows = SessionClient.objects.filter(sid__in=sids)
    due = list(
        rows.filter(client__disabled=False)
        .exclude(client__backchannel_logout_uri="")
        .values_list("client__client_id", "sid")
        .distinct()
    )
    rows.delete()
    if not due:
        return
    schema, issuer, sub = connection.schema_name, _issuer(), str(user_id)
    if not issuer:
        return  # a schema without a domain has no issuer, so no client signed in there

    def send() -> None:
        for client_id, sid in due:
            logout_due.send(
                sender=SessionClient,
                schema=schema,
                client_id=client_id,
                issuer=issuer,
                sub=sub,
                sid=sid,
            )

    transaction.on_commit(send)


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


def retry_delay(attempt: int) -> int:
    """Exponential back-off: the base delay after the first attempt, doubling after each
    further one, never more than the maximum (``GATEHOUSE["BACKCHANNEL_LOGOUT"]``)."""
    options = setting("BACKCHANNEL_LOGOUT")
    delay = int(options["RETRY_BASE_SECONDS"]) * 2 ** max(attempt - 1, 0)
    return min(delay, int(options["RETRY_MAX_SECONDS"]))


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


def logout_deliver(*, client_id: str, issuer: str, sub: str, sid: str, attempt: int) -> Delivery:
    """Attempt ``attempt`` (from 1) to POST a fresh logout token for ``sub``/``sid`` to the
    client's ``backchannel_logout_uri`` (§2.5, §2.7: ``logout_token`` in a form body).

    Each attempt signs a new token (its short ``exp`` must not run out between retries) and
    is audited with its outcome, the HTTP status or the reason it could not be sent, never
    the token. A network failure, a 5xx, 408, 425 or 429 is retried until
    ``GATEHOUSE["BACKCHANNEL_LOGOUT"]["ATTEMPTS"]``; any other answer (a redirect, which is
    not followed, or another 4xx) is final."""
    client = Client.objects.filter(client_id=client_id).first()
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
