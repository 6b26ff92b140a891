from django.apps import AppConfig

from gatehouse import metrics
from oauth.signals import token_issued


class GatehouseConfig(AppConfig):
    """The composition layer's app: it wires what the layers below leave unwired."""

    name = "gatehouse"
    verbose_name = "Gatehouse"

    def ready(self) -> None:
        # oauth sends the signal and imports nothing above it; metrics is this layer's.
        token_issued.connect(
            metrics.count_token_issued, dispatch_uid="gatehouse.metrics.tokens_issued"
        )
