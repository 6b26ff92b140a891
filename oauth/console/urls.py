"""The console's routes: each area's module declares its own."""

from oauth.console.views import (
    access,
    audit,
    clients,
    home,
    keys,
    mfa,
    registration,
    settings,
    users,
)

urlpatterns = [
    *home.urlpatterns,
    *access.urlpatterns,
    *clients.urlpatterns,
    *users.urlpatterns,
    *keys.urlpatterns,
    *audit.urlpatterns,
    *settings.urlpatterns,
    *registration.urlpatterns,
    *mfa.urlpatterns,
]
