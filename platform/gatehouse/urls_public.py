"""The public host (the base domain): landing page, signup, the operators' console and
Django admin (which can no longer create or delete tenants)."""

from django.contrib import admin
from django.urls import include, path

from gatehouse import views
from tenants import views as tenant_views
from tenants.console.views import access as operators_access

urlpatterns = [
    path("", views.public_home, name="public-home"),
    path("signup/", tenant_views.signup, name="signup"),
    path("operators/", include("tenants.console.urls")),
    # Before admin's own: operators sign in once, throttled and audited, for both.
    path("admin/login/", operators_access.admin_sign_in, name="admin-sign-in"),
    path("admin/", admin.site.urls),
]

handler400 = "kernel.views.bad_request"
handler403 = "kernel.views.permission_denied"
handler404 = "kernel.views.page_not_found"
handler500 = "kernel.views.server_error"
