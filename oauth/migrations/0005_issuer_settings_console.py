"""Tenant settings in the console: default access token format, allowed scopes, and when
the tenant's JWKS was first served (the key rotation rule).

Runs once per tenant schema. Existing tenants keep working: their allowed scopes become the
defaults plus every scope one of their clients already has, so no registered client asks
for a scope its tenant does not allow; their JWKS may have been served at any time since
their first signing key was made, so that is when it counts as first served (a next key
made with the tenant is then safe to promote, a later one waits jwks_max_age).
"""

from django.db import migrations, models
from django.db.models import Max, Min
from django.utils import timezone

import oauth.models.settings


def existing_tenants_forward(apps, schema_editor):
    IssuerSettings = apps.get_model("oauth", "IssuerSettings")
    Client = apps.get_model("oauth", "Client")
    SigningKey = apps.get_model("oauth", "SigningKey")
    rows = list(IssuerSettings.objects.all())
    if not rows:  # a new schema: IssuerSettings.load() creates the row with the defaults
        return
    scopes = dict.fromkeys(oauth.models.settings.DEFAULT_SCOPES_SUPPORTED)
    for client_scopes in Client.objects.order_by("pk").values_list("scopes", flat=True):
        scopes.update(dict.fromkeys(client_scopes or []))
    first_batch = SigningKey.objects.aggregate(first=Min("published_at"))["first"]
    first_served = (
        SigningKey.objects.filter(published_at=first_batch).aggregate(last=Max("created_at"))[
            "last"
        ]
        if first_batch
        else None
    )
    for row in rows:
        row.scopes_supported = list(scopes)
        row.jwks_first_served_at = first_served or timezone.now()
        row.save(update_fields=["scopes_supported", "jwks_first_served_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("oauth", "0004_console_clients_users"),
    ]

    operations = [
        migrations.AddField(
            model_name="issuersettings",
            name="default_access_token_format",
            field=models.CharField(
                choices=[("opaque", "Opaque"), ("jwt", "JWT (RFC 9068)")],
                default="opaque",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="issuersettings",
            name="jwks_first_served_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="issuersettings",
            name="scopes_supported",
            field=models.JSONField(
                blank=True, default=oauth.models.settings.default_scopes_supported
            ),
        ),
        migrations.RunPython(existing_tenants_forward, migrations.RunPython.noop),
    ]
