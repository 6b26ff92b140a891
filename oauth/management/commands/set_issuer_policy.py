"""``manage.py set_issuer_policy``: a tenant's issuer policy switches (``IssuerSettings``), a
thin wrapper over ``oauth.services.issuer.issuer_settings_update`` (audited there).

``--require-par`` / ``--no-require-par``: every client of the tenant must push its
authorization requests to ``/oauth/par`` first (RFC 9126 §5
``require_pushed_authorization_requests``), or not (each client's own setting still applies).
"""

from argparse import BooleanOptionalAction

from django_tenants.utils import get_tenant_model, schema_context

from kernel.cli import OperatorCommand
from oauth.services.issuer import issuer_settings_update


class Command(OperatorCommand):
    help = "Set a tenant's issuer policy switches (e.g. --require-par)."

    def add_command_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument(
            "--require-par",
            action=BooleanOptionalAction,
            default=None,
            help="every client must use pushed authorization requests (RFC 9126)",
        )

    def run(self, **options) -> dict:
        tenant = get_tenant_model().objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise ValueError(f"no tenant {options['tenant']!r}")
        fields = {}
        if options["require_par"] is not None:
            fields["require_pushed_authorization_requests"] = options["require_par"]
        with schema_context(tenant.schema_name):
            row = issuer_settings_update(**fields)
        return {
            "tenant": tenant.slug,
            "require_pushed_authorization_requests": row.require_pushed_authorization_requests,
        }
