"""``/account/mfa/`` on every tenant host (mounted ahead of ``/account/``)."""

from django.urls import path

from oauth.mfa import views

urlpatterns = [
    path("", views.account, name="mfa-account"),
    path("totp/add", views.totp_add, name="mfa-totp-add"),
    path("totp/remove", views.totp_remove, name="mfa-totp-remove"),
    path("recovery-codes", views.recovery_codes, name="mfa-recovery-codes"),
    path(
        "recovery-codes/regenerate",
        views.recovery_codes_regenerate,
        name="mfa-recovery-codes-regenerate",
    ),
    path("passkeys/add", views.passkey_add, name="mfa-passkey-add"),
    path("passkeys/add/options", views.passkey_add_options, name="mfa-passkey-add-options"),
    path("passkeys/add/finish", views.passkey_add_finish, name="mfa-passkey-add-finish"),
    path("passkeys/<int:passkey_id>/rename", views.passkey_rename, name="mfa-passkey-rename"),
    path("passkeys/<int:passkey_id>/remove", views.passkey_remove, name="mfa-passkey-remove"),
    path("challenge", views.challenge, name="mfa-challenge"),
    path(
        "challenge/passkey/options",
        views.challenge_passkey_options,
        name="mfa-challenge-passkey-options",
    ),
    path("challenge/passkey", views.challenge_passkey, name="mfa-challenge-passkey"),
    path("passkey-login/options", views.passkey_login_options, name="mfa-passkey-login-options"),
    path("passkey-login", views.passkey_login, name="mfa-passkey-login"),
]
