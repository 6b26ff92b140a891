"""OpenID Connect routes on every tenant host."""

from django.urls import path

from oauth import views_oidc

urlpatterns = [
    path("oauth/jwks", views_oidc.jwks, name="oauth-jwks"),
]
