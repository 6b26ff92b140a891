"""``manage.py set_mfa_policy``: a tenant's MFA policy, a thin wrapper over
``oauth.mfa.services.policy_set``."""

from django_tenants.utils import get_tenant_model, schema_context

from kernel.cli import OperatorCommand
from oauth.mfa.models import MFAPolicy
from oauth.mfa.services import policy_set


class Command(OperatorCommand):
    help = (
        "Set a tenant's MFA policy: off, optional, admins (required for admins) or everyone "
        "(required for every user; users without a factor enrol at their next sign-in)."
    )

    def add_command_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--mode", required=True, choices=MFAPolicy.Mode.values)

    def run(self, **options) -> dict:
        tenant = get_tenant_model().objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise ValueError(f"no tenant {options['tenant']!r}")
        with schema_context(tenant.schema_name):
            policy = policy_set(mode=options["mode"])
        return {"tenant": tenant.slug, "mode": policy.mode}
