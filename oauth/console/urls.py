from django.urls import path

from oauth.console import views

urlpatterns = [
    path("", views.home, name="console-home"),
    path("handoff/", views.handoff, name="console-handoff"),
    path("clients/", views.clients, name="console-clients"),
    path(
        "clients/<slug:client_id>/rotate-secret/",
        views.client_secret_rotate,
        name="console-client-secret",
    ),
    path("clients/<slug:client_id>/toggle/", views.client_toggle, name="console-client-toggle"),
    path("users/", views.users, name="console-users"),
    path("keys/", views.keys, name="console-keys"),
]
