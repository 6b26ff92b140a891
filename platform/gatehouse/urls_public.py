"""The public host (the base domain): landing page and the operators' Django admin."""

from django.contrib import admin
from django.urls import path

from gatehouse import views
from tenants import views as tenant_views

urlpatterns = [
    path("", views.public_home, name="public-home"),
    path("signup/", tenant_views.signup, name="signup"),
    path("admin/", admin.site.urls),
]

handler400 = "kernel.views.bad_request"
handler403 = "kernel.views.permission_denied"
handler404 = "kernel.views.page_not_found"
handler500 = "kernel.views.server_error"
