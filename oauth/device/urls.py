"""Device authorization (RFC 8628) routes of a tenant host. ``oauth-device-authorization``
is listed in the metadata (``oauth.selectors.METADATA_ENDPOINTS``)."""

from django.urls import path

from oauth.device import views

urlpatterns = [
    path(
        "oauth/device_authorization",
        views.device_authorization,
        name="oauth-device-authorization",
    ),
    path("device", views.device, name="device"),
    path("device/consent", views.device_consent, name="device-consent"),
]
