# One current and one next signing key per alg, enforced by the database (oauth.signing).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('oauth', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='signingkey',
            name='alg',
            field=models.CharField(choices=[('RS256', 'RS256 (RSA 2048)'), ('ES256', 'ES256 (EC P-256)')], max_length=8),
        ),
        migrations.AddConstraint(
            model_name='signingkey',
            constraint=models.UniqueConstraint(condition=models.Q(('state', 'current')), fields=('alg',), name='oauth_signingkey_one_current_per_alg'),
        ),
        migrations.AddConstraint(
            model_name='signingkey',
            constraint=models.UniqueConstraint(condition=models.Q(('state', 'next')), fields=('alg',), name='oauth_signingkey_one_next_per_alg'),
        ),
    ]
