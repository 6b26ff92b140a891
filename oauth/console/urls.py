"""The console's routes: each area's module declares its own."""

from oauth.console.views import access, clients, home, keys, settings, users

urlpatterns = [
    *home.urlpatterns,
    *access.urlpatterns,
    *clients.urlpatterns,
    *users.urlpatterns,
    *keys.urlpatterns,
    *settings.urlpatterns,
]
