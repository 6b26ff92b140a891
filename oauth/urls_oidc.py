"""OpenID Connect routes on every tenant host (DESIGN.md §4). URL names are what the
metadata (oauth.selectors.METADATA_ENDPOINTS, oauth.oidc.discovery.provider_metadata) lists."""

from django.urls import path

from oauth import views_oidc

urlpatterns = [
    path(
        ".well-known/openid-configuration",
        views_oidc.openid_configuration,
        name="oauth-openid-configuration",
    ),
    path("oauth/jwks", views_oidc.jwks, name="oauth-jwks"),
    path("oauth/userinfo", views_oidc.userinfo, name="oauth-userinfo"),
    path("oauth/logout", views_oidc.end_session, name="oauth-end-session"),
    path(
        "oauth/logout/confirm",
        views_oidc.end_session_confirm,
        name="oauth-end-session-confirm",
    ),
]
