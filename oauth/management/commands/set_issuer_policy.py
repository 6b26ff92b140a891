"""``manage.py set_issuer_policy``: a tenant's issuer policy switches (``IssuerSettings``), a
thin wrapper over ``oauth.services.issuer.issuer_settings_update`` (audited there).

``--require-par`` / ``--no-require-par``: every client of the tenant must push its
authorization requests to ``/oauth/par`` first (RFC 9126 §5
``require_pushed_authorization_requests``), or not (each client's own setting still applies).

``--dpop-nonce`` / ``--no-dpop-nonce``: DPoP proofs must carry a server-provided nonce
(RFC 9449 §8; ``IssuerSettings.dpop_nonce_required``, the console's "DPoP proofs need a
server nonce"); a proof without the current one gets ``use_dpop_nonce`` and a ``DPoP-Nonce``.

Either switch may be left out (unchanged); the JSON output shows both values after the call.
"""

from argparse import BooleanOptionalAction

from django_tenants.utils import get_tenant_model, schema_context

from kernel.cli import OperatorCommand
from oauth.services.issuer import issuer_settings_update


class Command(OperatorCommand):
    help = "Set a tenant's issuer policy switches (--require-par, --dpop-nonce)."

    def add_command_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument(
            "--require-par",
            action=BooleanOptionalAction,
            default=None,
            help="every client must use pushed authorization requests (RFC 9126)",
        )
        parser.add_argument(
            "--dpop-nonce",
            action=BooleanOptionalAction,
            default=None,
            help="DPoP proofs must carry a server-provided nonce (RFC 9449 section 8)",
        )

    def run(self, **options) -> dict:
        tenant = get_tenant_model().objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise ValueError(f"no tenant {options['tenant']!r}")
        fields = {}
        if options["require_par"] is not None:
            fields["require_pushed_authorization_requests"] = options["require_par"]
        if options["dpop_nonce"] is not None:
            fields["dpop_nonce_required"] = options["dpop_nonce"]
        with schema_context(tenant.schema_name):
            row = issuer_settings_update(**fields)
        return {
            "tenant": tenant.slug,
            "require_pushed_authorization_requests": row.require_pushed_authorization_requests,
            "dpop_nonce_required": row.dpop_nonce_required,
        }
