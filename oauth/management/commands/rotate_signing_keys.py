from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.db import connection
from django_tenants.utils import get_public_schema_name, get_tenant_model, schema_context

from kernel.cli import OperatorCommand
from oauth.services.clients import client_secrets_reencrypt
from oauth.signing import services as key_services


class Command(OperatorCommand):
    help = (
        "Promote each tenant's published next signing key to current and publish a new next "
        "key (OIDC Core §10.1.1). A next key that some relying party may not have seen yet "
        "(published after the tenant's JWKS was first served, less than jwks_max_age seconds "
        "ago) is not promoted unless --force; with --tenant, such a skip exits non-zero."
    )
    user_errors = (ValueError, ImproperlyConfigured)

    def add_command_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="only this tenant (default: all)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="rotate even if relying parties may not have fetched the next key yet",
        )
        parser.add_argument(
            "--reencrypt",
            action="store_true",
            help=(
                "instead of rotating, re-encrypt stored private keys with the first "
                "GATEHOUSE_KEY_ENCRYPTION_KEY entry (after adding a new one)"
            ),
        )

    def handle(self, *args, **options):
        """As every operator command; then, for ``--tenant``, a skip is a failure: the
        result is printed (same shape) and the reason is the one-line error."""
        self._skipped_reason = ""
        super().handle(*args, **options)
        if options["tenant"] and self._skipped_reason:
            raise CommandError(f"not rotated: {self._skipped_reason}")

    def run(self, **options) -> dict:
        tenants = get_tenant_model().objects.exclude(schema_name=get_public_schema_name())
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise ValueError(f"unknown tenant {options['tenant']!r}: no tenant has that slug")
        try:
            if options["reencrypt"]:
                return {"reencrypted": [self._reencrypt(t) for t in tenants.order_by("pk")]}
            result = {"rotated": [], "skipped": []}
            for tenant in tenants.order_by("pk"):
                with schema_context(tenant.schema_name):
                    outcome = key_services.rotate(force=options["force"])
                entry = {"tenant": tenant.slug, "current": outcome.current, "next": outcome.next}
                if outcome.rotated:
                    entry["retiring"] = outcome.retiring
                    entry["retire_after"] = outcome.retire_after.isoformat()
                    result["rotated"].append(entry)
                else:
                    result["skipped"].append({**entry, "reason": outcome.reason})
                    self._skipped_reason = outcome.reason
            return result
        finally:
            connection.set_schema_to_public()

    @staticmethod
    def _reencrypt(tenant) -> dict:
        with schema_context(tenant.schema_name):
            return {
                "tenant": tenant.slug,
                "keys": key_services.reencrypt_private_keys(),
                "client_secrets": client_secrets_reencrypt(),
            }

    def describe(self, result: dict) -> str:
        lines = [
            f"re-encrypted {e['keys']} keys of {e['tenant']}" for e in result.get("reencrypted", [])
        ]
        for entry in result.get("rotated", []):
            current = ", ".join(f"{alg} {kid}" for alg, kid in entry["current"].items())
            lines.append(
                f"rotated {entry['tenant']}: now signing with {current}; old keys published "
                f"until {entry['retire_after']}"
            )
        for entry in result.get("skipped", []):
            lines.append(f"skipped {entry['tenant']}: {entry['reason']}")
        return "\n".join(lines) or "no tenants"
