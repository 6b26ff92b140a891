from django.apps import AppConfig
from django.core import checks
from django.utils.module_loading import import_string

from oauth.backchannel.signals import logout_due
from workers.checks import check_purge_registry


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        checks.register(check_purge_registry)
        # oauth cannot import workers: it signals a due logout token, and it is queued here.
        # The tasks module needs the Celery app, so it is named here rather than imported.
        logout_due.connect(
            import_string("workers.tasks.backchannel_logout_due_receiver"),
            dispatch_uid="workers.backchannel_logout_due",
        )
