"""The one Celery app, configured from Django settings (namespace ``CELERY``).

tenant-schemas-celery puts the sending connection's schema in each task's headers and
switches to it in the worker, so a task sent inside ``schema_context`` runs in that tenant.
Beat runs in public: fan-out tasks name each tenant explicitly.
"""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings.dev")

app = CeleryApp("gatehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])
