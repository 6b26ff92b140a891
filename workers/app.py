"""The one Celery app, configured from Django settings (namespace ``CELERY``): the wiring of
the worker and beat processes (``celery -A workers worker|beat``), which is why it lives in
the workers layer rather than in the composition above it.

tenant-schemas-celery puts the sending connection's schema in each task's headers and
switches to it in the worker, so a task sent inside ``schema_context`` runs in that tenant.
Beat runs in public: fan-out tasks name each tenant explicitly.

The beat schedule lives here, not in settings, so its intervals can come from
``settings.GATEHOUSE`` with their defaults in ``kernel.conf`` (seconds):

- ``PURGE_INTERVAL_SECONDS`` (300): fan out one purge per tenant schema.
- ``PURGE_BACKLOG_INTERVAL_SECONDS`` (60): measure the purge backlog for /metrics.
- ``KEY_ROTATION_CHECK_SECONDS`` (3600): ask every tenant whether its signing keys are due
  (each tenant's own period is ``IssuerSettings.signing_key_rotation_days``).
- ``TENANT_USAGE_INTERVAL_SECONDS`` (900): count every active tenant's users and clients
  for the operators' list (``tenants.models.TenantUsage``).
- ``BACKCHANNEL_LOGOUT_SWEEP_INTERVAL_SECONDS`` (60): ask every tenant for back-channel
  logout deliveries whose message never reached the broker, or was lost, and send them again.

``WORKER_NICENESS`` (10): workers lower their CPU priority by this much at start. Purges are
background work: on a machine shared with the web processes they run at full speed while
the CPU is idle and yield it to token requests under load (docs/benchmarks.md). 0 keeps the
inherited priority. In Kubernetes, where workers have pods of their own, CPU requests do this.
"""

import os

from celery.signals import worker_init
from tenant_schemas_celery.app import CeleryApp

from kernel.conf import setting

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings.dev")

app = CeleryApp("gatehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])


def worker_setting(name: str) -> int:
    return int(setting(name))


def beat_schedule() -> dict:
    # Each entry expires after its own interval: if beat outpaces the workers, a stale
    # fan-out is dropped instead of piling up behind the next one.
    def entry(task: str, name: str) -> dict:
        seconds = worker_setting(name)
        return {"task": task, "schedule": float(seconds), "options": {"expires": seconds}}

    return {
        "purge-expired-rows": entry("workers.tasks.purge_all_tenants", "PURGE_INTERVAL_SECONDS"),
        "measure-purge-backlog": entry(
            "workers.tasks.record_purge_backlog", "PURGE_BACKLOG_INTERVAL_SECONDS"
        ),
        "rotate-signing-keys": entry(
            "workers.tasks.rotate_all_tenants_signing_keys", "KEY_ROTATION_CHECK_SECONDS"
        ),
        "measure-tenant-usage": entry(
            "workers.tasks.measure_all_tenants_usage", "TENANT_USAGE_INTERVAL_SECONDS"
        ),
        "sweep-backchannel-logouts": entry(
            "workers.tasks.sweep_all_tenants_backchannel_logouts",
            "BACKCHANNEL_LOGOUT_SWEEP_INTERVAL_SECONDS",
        ),
    }


@app.on_after_configure.connect
def _install_beat_schedule(sender, **kwargs) -> None:
    # After configuration is read, so Django settings are loaded by then.
    sender.conf.beat_schedule = {**beat_schedule(), **(sender.conf.beat_schedule or {})}


@worker_init.connect
def _lower_cpu_priority(**kwargs) -> None:
    # In the main worker process, before the pool forks: its processes inherit the priority.
    niceness = worker_setting("WORKER_NICENESS")
    if niceness > 0:
        os.nice(niceness)
