from django.apps import AppConfig
from django.core import checks

from workers.checks import check_purge_registry


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        checks.register(check_purge_registry)
