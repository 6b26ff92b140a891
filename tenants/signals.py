"""Changes to tenants or their domains drop this process's Host -> tenant cache at once."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tenants.models import Domain, Tenant
from tenants.selectors import clear_tenant_host_cache


@receiver([post_save, post_delete], sender=Tenant)
@receiver([post_save, post_delete], sender=Domain)
def _tenant_changed(**kwargs) -> None:
    clear_tenant_host_cache()
