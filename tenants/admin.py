"""Django admin's read-mostly view of tenants on the public host; the operators' console
(``tenants.console``, /operators/) is where operators manage them.

Tenants are created by provisioning only (signup, the console or ``manage.py
provision_tenant``) and deleted by ``tenant_delete`` only (the console): the admin can do
neither, because a bare row would lack its schema, domain, keys and first admin, and a bare
delete would leave the schema behind. Suspending and reactivating go through
``tenant_set_status``, audited like the console's. Its sign-in page is the console's
(``gatehouse.urls_public``).
"""

from django.contrib import admin, messages

from tenants.models import Domain, Tenant
from tenants.services import tenant_set_status


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "status", "schema_name", "created_at")
    list_filter = ("status",)
    search_fields = ("slug", "name", "domains__domain")
    list_per_page = 50
    show_full_result_count = False
    readonly_fields = ("slug", "schema_name", "status", "created_at")
    inlines = [DomainInline]
    actions = ["suspend", "reactivate"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _set_status(self, request, queryset, status: str) -> None:
        for tenant in queryset:
            tenant_set_status(tenant=tenant, status=status)
        messages.success(request, f"{queryset.count()} tenant(s) now {status}.")

    @admin.action(description="Suspend the selected tenants")
    def suspend(self, request, queryset) -> None:
        self._set_status(request, queryset, Tenant.Status.SUSPENDED)

    @admin.action(description="Reactivate the selected tenants")
    def reactivate(self, request, queryset) -> None:
        self._set_status(request, queryset, Tenant.Status.ACTIVE)
