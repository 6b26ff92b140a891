from django_tenants.utils import schema_context

from kernel.accounts.services import user_create
from kernel.cli import OperatorCommand
from tenants.selectors import tenant_by_slug


class Command(OperatorCommand):
    help = "Create a user in one tenant."

    def add_command_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--email-verified", action="store_true")
        parser.add_argument("--staff", action="store_true", help="may use the tenant console")

    def run(self, **options) -> dict:
        tenant = tenant_by_slug(options["tenant"])
        if tenant is None:
            raise ValueError(f"no tenant {options['tenant']!r}")
        with schema_context(tenant.schema_name):
            user = user_create(
                username=options["username"],
                password=options["password"],
                email=options["email"],
                email_verified=options["email_verified"],
                is_staff=options["staff"],
            )
        return {"tenant": tenant.slug, "username": user.username, "id": str(user.id)}
