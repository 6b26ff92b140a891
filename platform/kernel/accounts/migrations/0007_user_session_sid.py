"""UserSession.sid: the OpenID Connect session identifier, one random value per session
(existing rows each get their own, then the column becomes unique)."""

from django.db import migrations, models

import kernel.accounts.models


def fill_sids(apps, schema_editor):
    UserSession = apps.get_model("accounts", "UserSession")
    for row in UserSession.objects.filter(sid__isnull=True).only("pk"):
        UserSession.objects.filter(pk=row.pk).update(sid=kernel.accounts.models.new_sid())


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_user_session_created_index")]

    operations = [
        migrations.AddField(
            model_name="usersession",
            name="sid",
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.RunPython(fill_sids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="usersession",
            name="sid",
            field=models.CharField(
                default=kernel.accounts.models.new_sid, max_length=64, unique=True
            ),
        ),
    ]
