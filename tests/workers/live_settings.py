"""Settings for the processes these tests start (gunicorn, Celery worker and beat): the test
settings, plus the request metrics middleware right after the probes if the project settings
do not list it yet, and purge and back-channel logout sweep intervals short enough for a test
to watch beat fire them (the settings' own minimum is 10 s)."""

import os

from gatehouse.settings.test import *  # noqa: F403
from gatehouse.settings.test import GATEHOUSE, MIDDLEWARE

_METRICS = "gatehouse.metrics.RequestMetricsMiddleware"
if _METRICS not in MIDDLEWARE:
    _probes = MIDDLEWARE.index("gatehouse.probes.ProbeMiddleware")
    MIDDLEWARE = [*MIDDLEWARE[: _probes + 1], _METRICS, *MIDDLEWARE[_probes + 1 :]]

if os.environ.get("TEST_PURGE_INTERVAL_SECONDS"):
    GATEHOUSE = {
        **GATEHOUSE,
        "PURGE_INTERVAL_SECONDS": int(os.environ["TEST_PURGE_INTERVAL_SECONDS"]),
    }

if os.environ.get("TEST_BACKCHANNEL_LOGOUT_SWEEP_INTERVAL_SECONDS"):
    GATEHOUSE = {
        **GATEHOUSE,
        "BACKCHANNEL_LOGOUT_SWEEP_INTERVAL_SECONDS": int(
            os.environ["TEST_BACKCHANNEL_LOGOUT_SWEEP_INTERVAL_SECONDS"]
        ),
    }
