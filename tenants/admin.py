from django.contrib import admin

from tenants.models import Domain, Tenant


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
    readonly_fields = ("schema_name", "created_at")
    inlines = [DomainInline]
