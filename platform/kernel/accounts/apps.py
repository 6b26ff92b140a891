from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.utils.module_loading import import_string


class AccountsConfig(AppConfig):
    name = "kernel.accounts"
    label = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The services module imports the models, so it is named here, not imported above.
        user_logged_in.connect(
            import_string("kernel.accounts.services.user_session_started"),
            dispatch_uid="kernel.accounts.session_started",
        )
        user_logged_out.connect(
            import_string("kernel.accounts.services.user_session_closed"),
            dispatch_uid="kernel.accounts.session_closed",
        )
