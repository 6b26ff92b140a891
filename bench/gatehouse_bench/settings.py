"""Production settings, with the tenant URL conf extended by ``/bench/noop``."""

from gatehouse.settings.production import *  # noqa: F403

ROOT_URLCONF = "gatehouse_bench.urls_tenant"
