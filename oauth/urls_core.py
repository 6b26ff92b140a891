"""OAuth 2.0 endpoints of a tenant host (DESIGN.md §4). URL names are what the metadata
(oauth.selectors.METADATA_ENDPOINTS) lists."""

from django.urls import path

from oauth import views
from oauth.views.openapi import openapi

urlpatterns = [
    path(".well-known/oauth-authorization-server", views.metadata, name="oauth-metadata"),
    path("oauth/authorize", views.authorize, name="oauth-authorize"),
    path("oauth/token", views.token, name="oauth-token"),
    path("oauth/revoke", views.revoke, name="oauth-revoke"),
    path("oauth/introspect", views.introspect, name="oauth-introspect"),
    path("oauth/par", views.par, name="oauth-par"),
    path("oauth/login", views.login, name="oauth-login"),
    path("oauth/consent", views.consent, name="oauth-consent"),
    path("openapi.json", openapi, name="oauth-openapi"),
]
