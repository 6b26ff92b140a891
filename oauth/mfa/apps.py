from django.apps import AppConfig


class MfaConfig(AppConfig):
    """Installed in the public schema (operators) and in every tenant schema (its users)."""

    name = "oauth.mfa"
    label = "mfa"
    verbose_name = "Multi-factor authentication"
    default_auto_field = "django.db.models.BigAutoField"
