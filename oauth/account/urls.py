"""Routes of the account pages, mounted at ``account/`` on every tenant host (next to the
reset-link pages of ``kernel.accounts.views``)."""

from django.urls import path

from oauth.account import views

urlpatterns = [
    path("", views.account, name="account"),
    path("profile/", views.profile, name="account-profile"),
    path("password/", views.password, name="account-password"),
    path("sessions/<int:session_id>/end/", views.session_end, name="account-session-end"),
    path("apps/<client_id:client_id>/revoke/", views.app_revoke, name="account-app-revoke"),
    path("forgot/", views.forgot, name="account-forgot"),
    path("forgot/sent/", views.forgot_sent, name="account-forgot-sent"),
    path("verify/", views.verify, name="account-verify"),
    path("verify/mine/", views.verify_mine, name="account-verify-mine"),
    path("verify/done/", views.verify_done, name="account-verify-done"),
    path("verify/invalid/", views.verify_invalid, name="account-verify-invalid"),
    path("verify/resend/", views.verify_resend, name="account-verify-resend"),
    path("verify/sent/", views.verify_sent, name="account-verify-sent"),
    path("verify/<str:token>/", views.verify_start, name="account-verify-start"),
]
