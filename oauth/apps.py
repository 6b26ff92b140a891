from django.apps import AppConfig


class OauthConfig(AppConfig):
    name = "oauth"
    verbose_name = "OAuth 2.0 / OpenID Connect"
    default_auto_field = "django.db.models.BigAutoField"
