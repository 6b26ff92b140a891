"""The operators' console's routes: each area's module declares its own."""

from tenants.console.views import access, audit, tenants

urlpatterns = [
    *access.urlpatterns,
    *tenants.urlpatterns,
    *audit.urlpatterns,
]
