"""Writes to remembered consents (OIDC Core §3.1.2.4)."""

from __future__ import annotations

from django.db import transaction

from oauth.models import Client, Consent


@transaction.atomic
def consent_remember(*, user, client: Client, scope: str) -> Consent:
    """Remember that ``user`` allowed ``client`` these scopes (added to earlier ones)."""
    consent, created = Consent.objects.select_for_update().get_or_create(
        user=user, client=client, defaults={"scope": scope}
    )
    if not created:
        merged = list(dict.fromkeys(consent.scope.split() + scope.split()))
        consent.scope = " ".join(merged)
        consent.save(update_fields=["scope", "updated_at"])
    return consent
