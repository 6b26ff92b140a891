from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        from gatehouse import metrics
        from workers import checks  # noqa: F401  (registers the purge registry check)

        # Here rather than in oauth: oauth sends the signal and imports nothing above it.
        metrics.connect_signals()
