"""Writes to what a user has granted a client: the remembered consent, the grant families
(refresh chains) and the codes not yet redeemed (OIDC Core §3.1.2.4; RFC 7009 §2.1 and
RFC 9700 §4.14.2 for what revoking a grant ends)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from kernel.audit.services import audit_record
from oauth.models import AuthorizationCode, Client, Consent, GrantFamily, Token
from oauth.services.tokens import family_revoke


def _revoke(*, user, clients=None) -> tuple[int, int]:
    """Revoke ``user``'s live families (of ``clients`` if given), their tokens, any other
    live token of theirs, and unredeemed codes; (families revoked, tokens revoked)."""
    families = GrantFamily.objects.filter(user=user, revoked_at__isnull=True)
    tokens = Token.objects.filter(user=user, revoked_at__isnull=True)
    codes = AuthorizationCode.objects.filter(user=user, used_at__isnull=True)
    if clients is not None:
        families, tokens, codes = (q.filter(client__in=clients) for q in (families, tokens, codes))
    family_ids = list(families.values_list("pk", flat=True))
    revoked = sum(family_revoke(family_id=pk, reason="grant revoked") for pk in family_ids)
    revoked += tokens.update(revoked_at=timezone.now())
    codes.delete()
    return len(family_ids), revoked


@transaction.atomic
def grant_revoke(*, user, client: Client) -> None:
    """End everything ``user`` granted ``client`` at once: the consent is forgotten (the
    next authorization asks again), every access and refresh token of every grant family
    is revoked, and codes not yet redeemed are deleted."""
    consent = Consent.objects.filter(user=user, client=client).first()
    families, revoked = _revoke(user=user, clients=[client])
    if consent is not None:
        consent.delete()
    audit_record(
        action="grant.revoked",
        object_type="grant",
        object_id=f"{user.pk}:{client.client_id}",
        object_label=f"{user.username} / {client.name}",
        changes={
            "client_id": client.client_id,
            "scope": consent.scope if consent else "",
            "families_revoked": families,
            "revoked_count": revoked,
        },
    )


def password_replaced_receiver(sender, user, **kwargs) -> None:
    """``kernel.accounts.signals.password_replaced``: a new password ends every grant the
    old one made (refresh and access tokens revoked; consents are kept)."""
    _revoke(user=user)
