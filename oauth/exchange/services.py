"""Writes of token exchange (RFC 8693): the issued access token and its audit row, together."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from kernel.audit.services import audit_record
from oauth.models import Client, Token
from oauth.services.tokens import token_row

#: The audit action of every exchange.
EXCHANGED = "token.exchanged"


@transaction.atomic
def exchanged_token_issue(
    *,
    client: Client,
    token: dict,
    user_id,
    audience: str,
    act: dict | None,
    jti: str | None,
    family_id: int | None,
    record: dict,
    dpop_jkt: str | None = None,
) -> Token:
    """Store the access token issued by an exchange (RFC 8693 §2.2.1: no refresh token) for
    ``client``, standing for ``user_id``, with its ``act`` chain (§4.1), and audit it.

    The token joins the grant family of its subject token (``family_id``), so revoking the
    user's grant (refresh reuse, revocation of its refresh token, RFC 9700 §4.14.2) also
    revokes every token exchanged from it; it is never rotated (it has no refresh token),
    and ends before its subject token, so it never outlives the family's purge.

    Only the token's digest is stored (DESIGN.md §3). ``record`` is what the audit row says
    of the exchange: who the subject and the actor are, the audience and scope, never a
    token value (the audit log also redacts any member named like a credential).
    """
    row = token_row(
        client=client,
        token=token,
        now=timezone.now(),
        user_id=user_id,
        audience=audience,
        jti=jti,
        dpop_jkt=dpop_jkt,
    )
    row.act = act
    row.family_id = family_id
    row.save(force_insert=True)
    audit_record(
        action=EXCHANGED,
        object_type="client",
        object_id=client.client_id,
        object_label=client.name,
        changes=record,
    )
    return row
