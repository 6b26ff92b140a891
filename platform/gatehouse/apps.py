from django.apps import AppConfig


class GatehouseConfig(AppConfig):
    name = "gatehouse"
    verbose_name = "Gatehouse"
