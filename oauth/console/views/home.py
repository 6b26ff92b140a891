"""The console's overview page."""

from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from kernel.accounts.models import User
from oauth.console.views.access import staff_required
from oauth.models import Client, Token
from oauth.selectors import issuer_for_request


@staff_required
def home(request):
    issuer = issuer_for_request(request)
    context = {
        "issuer": issuer,
        "clients": Client.objects.count(),
        "users": User.objects.count(),
        "live_tokens": Token.objects.filter(
            revoked_at__isnull=True, access_expires_at__gt=timezone.now()
        ).count(),
    }
    return render(request, "console/home.html", context)


urlpatterns = [
    path("", home, name="console-home"),
]
