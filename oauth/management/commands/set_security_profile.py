"""``manage.py set_security_profile``: a tenant's security profile (``IssuerSettings``), or one
client's, as ``none`` or ``fapi2`` (FAPI 2.0 Security Profile, ``oauth.security_profile``).
A thin wrapper over ``issuer_settings_update`` / ``client_update``, both audited. Setting
a tenant to fapi2 lists the clients that stop getting tokens (not ``private_key_jwt``)."""

from django_tenants.utils import get_tenant_model, schema_context

from kernel.cli import OperatorCommand
from oauth.client_metadata import metadata_of
from oauth.models import Client
from oauth.services.clients import client_update
from oauth.services.issuer import issuer_settings_update

PROFILES = {"none": "", "fapi2": Client.SecurityProfile.FAPI2.value}


class Command(OperatorCommand):
    help = "Set the security profile (none or fapi2) of a tenant, or of one of its clients."

    def add_command_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--profile", required=True, choices=list(PROFILES))
        parser.add_argument(
            "--client", default="", help="client_id: set this client's profile, not the tenant's"
        )

    def run(self, **options) -> dict:
        tenant = get_tenant_model().objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise ValueError(f"no tenant {options['tenant']!r}")
        profile = PROFILES[options["profile"]]
        with schema_context(tenant.schema_name):
            if not options["client"]:
                issuer_settings_update(security_profile=profile)
                refused = (
                    Client.objects.exclude(
                        token_endpoint_auth_method=Client.AuthMethod.PRIVATE_KEY_JWT
                    )
                    .order_by("client_id")
                    .values_list("client_id", flat=True)
                    if profile
                    else []
                )
                return {
                    "tenant": tenant.slug,
                    "client_id": None,
                    "profile": options["profile"],
                    "clients_not_fapi2": list(refused),
                }
            client = Client.objects.filter(client_id=options["client"]).first()
            if client is None:
                raise ValueError(f"no client {options['client']!r} in tenant {tenant.slug!r}")
            client_update(client=client, metadata=metadata_of(client, security_profile=profile))
        return {"tenant": tenant.slug, "client_id": client.client_id, "profile": options["profile"]}
