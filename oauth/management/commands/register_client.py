"""``manage.py register_client``: register an OAuth client in one tenant (DESIGN.md §5).

The client secret is printed once and stored only as a SHA-256 digest (and, for
``client_secret_jwt`` only, encrypted at rest: RFC 7523 §2.2 MACs with it). A
``private_key_jwt`` client gets no secret: it authenticates with its keys (``--jwks FILE``
or ``--jwks-uri URL``).
"""

import json
from pathlib import Path

from django_tenants.utils import get_tenant_model, schema_context

from kernel.cli import OperatorCommand
from oauth.client_metadata import ClientMetadata
from oauth.grant_types import GRANT_TYPES
from oauth.models import Client, SigningKey
from oauth.security_profile import ASYMMETRIC_ALGS
from oauth.services.clients import client_create


def _jwks_file(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"--jwks {path}: not a readable JSON file ({error})") from None


class Command(OperatorCommand):
    help = "Register an OAuth client in a tenant; prints its client_id and (once) its secret."

    def add_command_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--name", required=True, help="shown to users on the consent page")
        parser.add_argument(
            "--grant-type",
            action="append",
            choices=GRANT_TYPES,
            dest="grant_types",
            help="repeat for several; default: authorization_code + refresh_token with "
            "--redirect-uri, else client_credentials",
        )
        parser.add_argument(
            "--redirect-uri", action="append", dest="redirect_uris", help="exact; repeatable"
        )
        parser.add_argument("--scope", default="", help='allowed scopes, e.g. "api read"')
        parser.add_argument(
            "--auth-method",
            choices=Client.AuthMethod.values,
            default=Client.AuthMethod.BASIC,
            help="token endpoint authentication; none = public client (PKCE required); "
            "private_key_jwt needs --jwks or --jwks-uri (RFC 7523)",
        )
        keys = parser.add_mutually_exclusive_group()
        keys.add_argument("--jwks", metavar="FILE", help="file holding the client's JWK Set")
        keys.add_argument("--jwks-uri", default="", help="https URL of the client's JWK Set")
        parser.add_argument(
            "--auth-signing-alg",
            default="",
            help="token_endpoint_auth_signing_alg: the one JWS alg of its assertions",
        )
        parser.add_argument(
            "--security-profile",
            choices=["none", *[p for p in Client.SecurityProfile.values if p]],
            default="none",
            help="fapi2 = FAPI 2.0 for this client (none = the tenant's profile)",
        )
        parser.add_argument(
            "--can-introspect", action="store_true", help="a resource server (RFC 7662)"
        )
        parser.add_argument(
            "--resource",
            action="append",
            dest="resources",
            help="RFC 8707 resource indicator the client may ask for; repeatable",
        )
        parser.add_argument(
            "--cors-origin",
            action="append",
            dest="cors_origins",
            help="browser origin allowed to call the token endpoints; repeatable",
        )
        parser.add_argument("--access-token-lifetime", type=int, help="seconds")
        parser.add_argument("--refresh-token-lifetime", type=int, help="seconds")
        parser.add_argument(
            "--access-token-format",
            choices=Client.AccessTokenFormat.values,
            default="",
            help="default: the tenant's default access token format",
        )
        parser.add_argument(
            "--post-logout-redirect-uri",
            action="append",
            dest="post_logout_redirect_uris",
            help="exact; where RP-initiated logout may return to; repeatable",
        )
        parser.add_argument(
            "--id-token-alg",
            choices=SigningKey.Alg.values,
            default=SigningKey.Alg.RS256,
            help="id_token_signed_response_alg (OIDC Registration 2)",
        )
        parser.add_argument(
            "--token-exchange-audience",
            action="append",
            dest="token_exchange_audiences",
            help="audience or resource the client may request by token exchange (RFC 8693); "
            "repeatable",
        )
        parser.add_argument(
            "--require-par",
            action="store_true",
            help="authorization requests must be pushed to /oauth/par first (RFC 9126)",
        )
        parser.add_argument(
            "--request-object-signing-alg",
            choices=ASYMMETRIC_ALGS,
            default="",
            help="accept signed request objects (RFC 9101) with this alg; needs the client's keys",
        )
        parser.add_argument(
            "--dpop",
            action="store_true",
            dest="dpop_bound_access_tokens",
            help="DPoP-bound access tokens only: token requests need a proof (RFC 9449)",
        )
        parser.add_argument(
            "--backchannel-logout-uri",
            default="",
            help="https URL logout tokens are POSTed to (OIDC Back-Channel Logout 2.2)",
        )
        parser.add_argument(
            "--backchannel-logout-session-required",
            action="store_true",
            help="the client needs sid in logout tokens (always sent here)",
        )

    def run(self, **options) -> dict:
        tenant = get_tenant_model().objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise ValueError(f"no tenant {options['tenant']!r}")
        with schema_context(tenant.schema_name):
            metadata = ClientMetadata(
                name=options["name"],
                grant_types=options["grant_types"],
                redirect_uris=options["redirect_uris"],
                scopes=options["scope"].split(),
                auth_method=options["auth_method"],
                can_introspect=options["can_introspect"],
                resources=options["resources"],
                cors_origins=options["cors_origins"],
                access_token_lifetime=options["access_token_lifetime"],
                refresh_token_lifetime=options["refresh_token_lifetime"],
                access_token_format=options["access_token_format"],
                post_logout_redirect_uris=options["post_logout_redirect_uris"],
                id_token_signed_response_alg=options["id_token_alg"],
                token_exchange_audiences=options["token_exchange_audiences"],
                require_pushed_authorization_requests=options["require_par"],
                request_object_signing_alg=options["request_object_signing_alg"],
                dpop_bound_access_tokens=options["dpop_bound_access_tokens"],
                backchannel_logout_uri=options["backchannel_logout_uri"],
                backchannel_logout_session_required=options["backchannel_logout_session_required"],
                jwks=_jwks_file(options["jwks"]) if options["jwks"] else None,
                jwks_uri=options["jwks_uri"],
                token_endpoint_auth_signing_alg=options["auth_signing_alg"],
                security_profile="" if options["security_profile"] == "none" else "fapi2",
            )
            client, secret = client_create(metadata=metadata)
        return {"client_id": client.client_id, "client_secret": secret, "tenant": tenant.slug}
