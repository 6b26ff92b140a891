"""The operators' console's routes: each area's module declares its own."""

from tenants.console.views import access, audit, plans, tenants

urlpatterns = [
    *access.urlpatterns,
    *tenants.urlpatterns,
    *plans.urlpatterns,
    *audit.urlpatterns,
]
