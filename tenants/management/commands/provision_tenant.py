from kernel.cli import OperatorCommand
from tenants.services import tenant_provision


class Command(OperatorCommand):
    help = "Create a tenant: schema, domain and first admin user, all or nothing."

    def add_command_arguments(self, parser):
        parser.add_argument("--slug", required=True, help="DNS label, 3-63 characters")
        parser.add_argument("--name", required=True)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", required=True)
        parser.add_argument("--admin-username", help="defaults to the admin email")
        parser.add_argument("--domain", help="defaults to <slug>.<GATEHOUSE_BASE_DOMAIN>")
        parser.add_argument("--plan", help="a plan's slug; defaults to GATEHOUSE_DEFAULT_PLAN")

    def run(self, **options) -> dict:
        return tenant_provision(
            slug=options["slug"],
            name=options["name"],
            admin_email=options["admin_email"],
            admin_password=options["admin_password"],
            admin_username=options["admin_username"],
            domain=options["domain"],
            plan=options["plan"],
        ).as_dict()
