from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save

from tenants.hosts import clear_tenant_host_cache


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A change to a tenant, its domains or a plan drops this process's Host -> tenant cache.
        for sender in ("tenants.Tenant", "tenants.Domain", "tenants.Plan"):
            for signal in (post_save, post_delete):
                signal.connect(
                    clear_tenant_host_cache,
                    sender=sender,
                    dispatch_uid=f"tenants.hosts.{sender}.{signal is post_save}",
                )
