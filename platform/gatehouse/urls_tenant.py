"""Every tenant host: the tenant's issuer, OAuth endpoints and console."""

from django.urls import include, path

from gatehouse import views

urlpatterns = [
    path("", views.tenant_home, name="tenant-home"),
    path("", include("oauth.urls")),
    path("console/", include("gatehouse.console.urls")),
]

handler400 = "gatehouse.views.bad_request"
handler403 = "gatehouse.views.permission_denied"
handler404 = "gatehouse.views.page_not_found"
handler500 = "gatehouse.views.server_error"
