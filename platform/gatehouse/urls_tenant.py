"""Every tenant host: the tenant's issuer, OAuth endpoints and console."""

from django.urls import include, path

from gatehouse import views

urlpatterns = [
    path("", views.tenant_home, name="tenant-home"),
    path("", include("oauth.urls")),
    path("console/", include("oauth.console.urls")),
    path("account/mfa/", include("oauth.mfa.urls")),
    path("account/", include("kernel.accounts.views")),
    path("account/", include("oauth.account.urls")),
]

handler400 = "kernel.views.bad_request"
handler403 = "kernel.views.permission_denied"
handler404 = "kernel.views.page_not_found"
handler500 = "kernel.views.server_error"
