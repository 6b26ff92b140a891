"""``manage.py set_rate_limits``: a tenant's rate-limit overrides (``oauth.ratelimits``), a
thin wrapper over ``oauth.services.rate_limits.rate_limits_update``."""

from django_tenants.utils import get_tenant_model, schema_context

from kernel.cli import OperatorCommand
from oauth.selectors import RATE_LIMIT_FIELDS
from oauth.services.rate_limits import rate_limits_update

#: An option left out: the override stays as it is.
_UNSET = object()


def _limit(value: str) -> int | None:
    return None if value == "default" else int(value)


class Command(OperatorCommand):
    help = "Set a tenant's OAuth rate limits (a number, or 'default' for the platform's)."

    def add_command_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        for name in RATE_LIMIT_FIELDS:
            parser.add_argument(
                "--" + name.lower().replace("_", "-"),
                type=_limit,
                dest=name,
                default=_UNSET,
                help="per window; 'default' = GATEHOUSE_RATE_LIMIT_" + name,
            )

    def run(self, **options) -> dict:
        tenant = get_tenant_model().objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise ValueError(f"no tenant {options['tenant']!r}")
        limits = {n: options[n] for n in RATE_LIMIT_FIELDS if options[n] is not _UNSET}
        with schema_context(tenant.schema_name):
            overrides = rate_limits_update(limits=limits)
        return {"tenant": tenant.slug, "overrides": overrides}
