"""The one Celery app, configured from Django settings (namespace ``CELERY``).

tenant-schemas-celery puts the sending connection's schema in each task's headers and
switches to it in the worker, so a task sent inside ``schema_context`` runs in that tenant.
Beat runs in public: fan-out tasks name each tenant explicitly.

The beat schedule lives here, not in settings, so its intervals can come from
``settings.GATEHOUSE`` with defaults (seconds):

- ``PURGE_INTERVAL_SECONDS`` (300): fan out one purge per tenant schema.
- ``PURGE_BACKLOG_INTERVAL_SECONDS`` (60): measure the purge backlog for /metrics.
- ``KEY_ROTATION_CHECK_SECONDS`` (3600): ask every tenant whether its signing keys are due
  (each tenant's own period is ``IssuerSettings.signing_key_rotation_days``).
"""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings.dev")

SCHEDULE_DEFAULTS = {
    "PURGE_INTERVAL_SECONDS": 300,
    "PURGE_BACKLOG_INTERVAL_SECONDS": 60,
    "KEY_ROTATION_CHECK_SECONDS": 3600,
}

app = CeleryApp("gatehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])


def schedule_setting(name: str) -> int:
    from django.conf import settings

    return int(getattr(settings, "GATEHOUSE", {}).get(name, SCHEDULE_DEFAULTS[name]))


def beat_schedule() -> dict:
    # Each entry expires after its own interval: if beat outpaces the workers, a stale
    # fan-out is dropped instead of piling up behind the next one.
    def entry(task: str, setting: str) -> dict:
        seconds = schedule_setting(setting)
        return {"task": task, "schedule": float(seconds), "options": {"expires": seconds}}

    return {
        "purge-expired-rows": entry("workers.tasks.purge_all_tenants", "PURGE_INTERVAL_SECONDS"),
        "measure-purge-backlog": entry(
            "workers.tasks.record_purge_backlog", "PURGE_BACKLOG_INTERVAL_SECONDS"
        ),
        "rotate-signing-keys": entry(
            "workers.tasks.rotate_all_tenants_signing_keys", "KEY_ROTATION_CHECK_SECONDS"
        ),
    }


@app.on_after_configure.connect
def _install_beat_schedule(sender, **kwargs) -> None:
    # After configuration is read, so Django settings are loaded by then.
    sender.conf.beat_schedule = {**beat_schedule(), **(sender.conf.beat_schedule or {})}
