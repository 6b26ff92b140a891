"""Clients: list, register, rotate a secret, disable and enable."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST

from oauth.client_metadata import ClientError, ClientMetadata
from oauth.console.forms.clients import ClientForm
from oauth.console.views.access import PAGE_SIZE, staff_required
from oauth.models import Client
from oauth.services.clients import client_create, client_rotate_secret, client_set_disabled


@staff_required
@require_http_methods(["GET", "POST"])
def clients(request):
    form = ClientForm(request.POST if request.method == "POST" else None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = client_create(metadata=ClientMetadata(**form.service_arguments()))
        except ClientError as exc:
            form.add_error(None, str(exc))
    page = Paginator(Client.objects.order_by("name", "pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    status = 400 if form.errors else 200
    context = {"form": form, "page": page, "created": created, "secret": secret}
    return render(request, "console/clients.html", context, status=status)


@staff_required
@require_POST
def client_secret_rotate(request, client_id: str):
    client = get_object_or_404(Client, client_id=client_id)
    if client.is_public:
        messages.error(request, "A public client has no secret.")
        return redirect("console-clients")
    secret = client_rotate_secret(client=client)
    return render(request, "console/secret.html", {"client": client, "secret": secret})


@staff_required
@require_POST
def client_toggle(request, client_id: str):
    client = get_object_or_404(Client, client_id=client_id)
    client_set_disabled(client=client, disabled=not client.disabled)
    return redirect("console-clients")


urlpatterns = [
    path("clients/", clients, name="console-clients"),
    path(
        "clients/<slug:client_id>/rotate-secret/",
        client_secret_rotate,
        name="console-client-secret",
    ),
    path("clients/<slug:client_id>/toggle/", client_toggle, name="console-client-toggle"),
]
