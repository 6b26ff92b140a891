"""Tenant-host routes of the oauth app; each concern keeps its own URL module."""

from django.urls import include, path

urlpatterns = [
    path("", include("oauth.urls_core")),
    path("", include("oauth.urls_oidc")),
]
