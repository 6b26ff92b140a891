from django.apps import AppConfig
from django.core import checks

from oauth.checks import check_key_encryption_keys


class OauthConfig(AppConfig):
    name = "oauth"
    verbose_name = "OAuth 2.0 / OpenID Connect"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_key_encryption_keys, checks.Tags.security)
