# Client.updated_at for the console; the token table's index on client_id becomes one on
# (client_id, issued_at DESC): the same one index on the token hot path, and a client's
# "last used" is its first entry. (Not CONCURRENTLY: provisioning migrates a new schema
# inside its transaction.)

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('oauth', '0003_client_cors_gin'),
    ]

    operations = [
        migrations.AddField(
            model_name='client',
            name='updated_at',
            field=models.DateTimeField(auto_now=True),
        ),
        migrations.AddIndex(
            model_name='token',
            index=models.Index(fields=['client', '-issued_at'], name='oauth_token_client_issued'),
        ),
        migrations.AlterField(
            model_name='token',
            name='client',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='tokens', to='oauth.client'),
        ),
    ]
