"""Tenant-host routes of the oauth app; each concern keeps its own URL module."""

from django.urls import include, path

from oauth.views import branding

urlpatterns = [
    path("branding/logo", branding.logo, name="branding-logo"),
    path("", include("oauth.urls_core")),
    path("", include("oauth.registration.urls")),
    path("", include("oauth.device.urls")),
    path("", include("oauth.urls_oidc")),
]
