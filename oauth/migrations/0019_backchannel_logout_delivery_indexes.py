"""The outbox's indexes: the sweep's (pending rows by next_attempt_at) and the purge's."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('oauth', '0018_backchannel_logout_deliveries'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='backchannellogoutdelivery',
            index=models.Index(condition=models.Q(('state', 'pending')), fields=['next_attempt_at'], name='oauth_bcl_delivery_due'),
        ),
        migrations.AddIndex(
            model_name='backchannellogoutdelivery',
            index=models.Index(fields=['purge_after'], name='oauth_bcl_delivery_purge'),
        ),
    ]
