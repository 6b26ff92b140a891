# CORS origin lookups ("is this Origin registered by any client of this tenant") use a GIN
# index on Client.cors_origins (cors_origins @> ARRAY[origin]).

import django.contrib.postgres.indexes
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('oauth', '0002_signing_keys'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='client',
            index=django.contrib.postgres.indexes.GinIndex(fields=['cors_origins'], name='oauth_client_cors_gin'),
        ),
    ]
