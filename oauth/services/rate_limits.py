"""A tenant's rate-limit overrides (``IssuerSettings.rate_limit_*``, ``oauth.ratelimits``):
a plan or quota the platform operator sets, never the tenant's own admin."""

from __future__ import annotations

from django.db import transaction

from kernel.audit.services import audit_record, diff
from oauth import selectors
from oauth.models import IssuerSettings


@transaction.atomic
def rate_limits_update(*, limits: dict[str, int | None]) -> dict[str, int | None]:
    """Set overrides by ``GATEHOUSE["RATE_LIMITS"]`` name (``{"CLIENT_REQUESTS": 600}``);
    None puts one back to the platform default. Audited as ``settings.rate_limits_updated``;
    returns every override after the change."""
    unknown = set(limits) - set(selectors.RATE_LIMIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown rate limit {sorted(unknown)[0]!r}")
    for name, value in limits.items():
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive whole number or empty")
    row = IssuerSettings.objects.select_for_update().get(pk=IssuerSettings.load().pk)

    def snapshot() -> dict[str, int | None]:
        return {name: getattr(row, f) for name, f in selectors.RATE_LIMIT_FIELDS.items()}

    before = snapshot()
    for name, value in limits.items():
        setattr(row, selectors.RATE_LIMIT_FIELDS[name], value)
    after = snapshot()
    changes = diff(before, after)
    if changes:
        row.save(update_fields=[selectors.RATE_LIMIT_FIELDS[name] for name in limits])
        audit_record(
            action="settings.rate_limits_updated",
            object_type="issuer_settings",
            object_id=str(row.pk),
            object_label="Rate limits",
            changes=changes,
        )
    selectors.clear_issuer_policy_cache()
    return after
