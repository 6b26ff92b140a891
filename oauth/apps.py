from django.apps import AppConfig
from django.core import checks
from django.urls import register_converter
from django.utils.module_loading import import_string

from kernel.accounts.signals import password_replaced, sessions_ended
from oauth.checks import (
    check_backchannel_logout_outbox,
    check_document_fetch,
    check_key_encryption_keys,
)
from oauth.console.converters import ClientIdConverter


class OauthConfig(AppConfig):
    name = "oauth"
    verbose_name = "OAuth 2.0 / OpenID Connect"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Console URLs name clients by client_id, which may be a metadata document's URL.
        register_converter(ClientIdConverter, "client_id")
        checks.register(check_key_encryption_keys, checks.Tags.security)
        checks.register(check_document_fetch, checks.Tags.security, deploy=True)
        checks.register(check_backchannel_logout_outbox)
        # kernel cannot import oauth: it signals, and oauth ends the grants. The services
        # module imports the models, so it is named here rather than imported above.
        password_replaced.connect(
            import_string("oauth.services.grants.password_replaced_receiver"),
            dispatch_uid="oauth.grants.password_replaced",
        )
        # OIDC Back-Channel Logout: ended sessions' clients are owed a logout token.
        sessions_ended.connect(
            import_string("oauth.backchannel.services.sessions_ended_receiver"),
            dispatch_uid="oauth.backchannel.sessions_ended",
        )
