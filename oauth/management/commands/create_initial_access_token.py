"""``manage.py create_initial_access_token``: an RFC 7591 §3 initial access token for one
tenant (DESIGN.md §5). Printed once; only its SHA-256 digest is stored."""

from django_tenants.utils import get_tenant_model, schema_context

from kernel.cli import OperatorCommand
from oauth.registration.services import initial_access_token_create


class Command(OperatorCommand):
    help = "Mint an initial access token for /oauth/register; prints it once."

    def add_command_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--uses", type=int, default=1, help="clients it may register")
        parser.add_argument(
            "--expires-in", type=int, default=86400, help="seconds until it expires"
        )
        parser.add_argument(
            "--scope", action="append", dest="scopes", help="a scope it allows; repeatable"
        )
        parser.add_argument(
            "--redirect-host",
            action="append",
            dest="redirect_hosts",
            help="a redirect URI host it allows; repeatable",
        )
        parser.add_argument("--label", default="", help="what it is for (shown in the console)")

    def run(self, **options) -> dict:
        tenant = get_tenant_model().objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise ValueError(f"no tenant {options['tenant']!r}")
        with schema_context(tenant.schema_name):
            row, value = initial_access_token_create(
                expires_in=options["expires_in"],
                uses=options["uses"],
                scopes=options["scopes"],
                redirect_hosts=options["redirect_hosts"],
                label=options["label"],
            )
        return {
            "tenant": tenant.slug,
            "initial_access_token": value,
            "expires_at": row.expires_at.isoformat(),
            "uses": row.uses_left,
        }
