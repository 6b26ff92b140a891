"""``manage.py set_tenant_plan``: put a tenant on a plan (``tenants.services.tenant_set_plan``)."""

from kernel.cli import OperatorCommand
from tenants.selectors import plan_by_slug, tenant_by_slug
from tenants.services import tenant_set_plan


class Command(OperatorCommand):
    help = "Put a tenant on a plan ('none' for the platform's default quotas)."

    def add_command_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--plan", required=True, help="plan slug, or 'none'")

    def run(self, **options) -> dict:
        tenant = tenant_by_slug(options["tenant"])
        if tenant is None:
            raise ValueError(f"no tenant {options['tenant']!r}")
        plan = None
        if options["plan"] != "none":
            plan = plan_by_slug(options["plan"])
            if plan is None:
                raise ValueError(f"no plan {options['plan']!r}")
        tenant = tenant_set_plan(tenant=tenant, plan=plan)
        return {"tenant": tenant.slug, "plan": plan.slug if plan else None}
