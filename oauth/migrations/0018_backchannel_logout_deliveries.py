"""The back-channel logout outbox (oauth.models.logouts.BackchannelLogoutDelivery). Its two
indexes come in 0019, on their own: a schema that lacks only them (AddIndex) can be migrated
with every other such schema in one batch (tenants.migrations_batch), which CreateModel
cannot."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('oauth', '0017_dpop_bound_tokens'),
    ]

    operations = [
        migrations.CreateModel(
            name='BackchannelLogoutDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('sub', models.CharField(max_length=255)),
                ('sid', models.CharField(blank=True, max_length=64)),
                ('issuer', models.TextField()),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('delivered', 'Delivered'), ('failed', 'Failed'), ('dropped', 'Dropped')], default='pending', max_length=16)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField()),
                ('purge_after', models.DateTimeField()),
                ('created_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField()),
                ('client', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='oauth.client')),
            ],
        ),
    ]
