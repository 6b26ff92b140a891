"""Clients: list and search, register, see everything registered, edit, rotate the secret
with an overlap, disable and enable, delete.

Every write answers with a redirect (POST-redirect-GET), except the two that show a secret
once (registration and rotation): those answer the POST itself and carry a one-time form
token, so a reload that posts again writes nothing and never shows a secret again.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from oauth import selectors
from oauth.client_metadata import ClientError
from oauth.console.forms.clients import ClientEditForm, ClientForm, RotateSecretForm
from oauth.console.views.access import (
    PAGE_SIZE,
    clean_query,
    once_claim,
    once_token,
    staff_required,
)
from oauth.models import Client
from oauth.services.clients import (
    client_create,
    client_delete,
    client_rotate_secret,
    client_set_disabled,
    client_update,
)

_ALREADY_DONE = (
    "That form was already submitted, so nothing more was done. A secret is shown only once: "
    "if you lost it, rotate the secret again."
)


def _client(client_id: str) -> Client:
    """This tenant's client (another tenant's client_id is simply not found here)."""
    return get_object_or_404(Client, client_id=client_id)


@staff_required
@require_http_methods(["GET", "POST"])
def clients(request):
    form = ClientForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not once_claim(request):
            messages.info(request, _ALREADY_DONE)
            return redirect("console-clients")
        metadata = form.metadata()
        created = None
        if metadata is not None:
            try:
                created, secret = client_create(metadata=metadata)
            except ClientError as exc:  # rules that need the tenant's settings (scopes)
                form.add_client_error(exc)
        if created is not None:
            messages.success(request, f"Client {created.name} registered.")
            if secret is None:
                return redirect("console-client", client_id=created.client_id)
            return render(
                request,
                "console/client_secret.html",
                {"client": created, "secret": secret, "created": True},
            )
    query = clean_query(request)
    self_registered = request.GET.get("registration") == "self"
    found = selectors.clients_search(query=query)
    if self_registered:
        found = found.exclude(registration=Client.Registration.CONSOLE)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "q": query,
        "once": once_token(),
        "self_registered": self_registered,
    }
    return render(request, "console/clients.html", context, status=400 if form.errors else 200)


@staff_required
@require_http_methods(["GET"])
def client_detail(request, client_id: str):
    client = _client(client_id)
    now = timezone.now()
    previous_until = client.previous_secret_expires_at if client.previous_secret_digest else None
    context = {
        "client": client,
        "last_used": selectors.client_last_used(client=client),
        "previous_until": previous_until,
        "previous_works": previous_until is not None and previous_until > now,
    }
    return render(request, "console/client_detail.html", context)


@staff_required
@require_http_methods(["GET", "POST"])
def client_edit(request, client_id: str):
    client = _client(client_id)
    form = ClientEditForm.for_client(client, request.POST if request.method == "POST" else None)
    if request.method == "POST":
        metadata = form.metadata()
        if metadata is not None:
            try:
                client_update(client=client, metadata=metadata)
            except ClientError as exc:
                form.add_client_error(exc)
            else:
                messages.success(request, "Changes saved.")
                return redirect("console-client", client_id=client.client_id)
    return render(
        request,
        "console/client_edit.html",
        {"client": client, "form": form},
        status=400 if form.errors else 200,
    )


@staff_required
@require_http_methods(["GET", "POST"])
def client_secret_rotate(request, client_id: str):
    client = _client(client_id)
    if client.is_public:
        messages.error(request, "A public client has no secret to rotate.")
        return redirect("console-client", client_id=client.client_id)
    form = RotateSecretForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not once_claim(request):
            messages.info(request, _ALREADY_DONE)
            return redirect("console-client", client_id=client.client_id)
        if form.is_valid():
            grace = form.grace()
            secret = client_rotate_secret(client=client, grace_seconds=grace)
            client.refresh_from_db()
            return render(
                request,
                "console/client_secret.html",
                {"client": client, "secret": secret, "grace": grace},
            )
    context = {"client": client, "form": form, "once": once_token()}
    return render(
        request, "console/client_rotate.html", context, status=400 if form.errors else 200
    )


@staff_required
@require_POST
def client_toggle(request, client_id: str):
    """Disable (``disabled=1``) or enable (``disabled=0``): the target state is explicit, so
    posting twice changes nothing the second time."""
    client = _client(client_id)
    wanted = request.POST.get("disabled")
    if wanted not in ("0", "1"):
        messages.error(request, "Choose whether to disable or enable the client.")
        return redirect("console-client", client_id=client.client_id)
    client_set_disabled(client=client, disabled=wanted == "1")
    messages.success(request, f"Client {client.name} {'disabled' if wanted == '1' else 'enabled'}.")
    return redirect("console-client", client_id=client.client_id)


@staff_required
@require_http_methods(["GET", "POST"])
def client_delete_view(request, client_id: str):
    client = _client(client_id)
    if request.method == "POST":
        if request.POST.get("confirm") != client.client_id:
            messages.error(request, "Type the client_id to confirm the deletion.")
            return redirect("console-client-delete", client_id=client.client_id)
        client_delete(client=client)
        messages.success(request, f"Client {client.name} deleted, with all its tokens.")
        return redirect("console-clients")
    context = {
        "client": client,
        "live_tokens": client.tokens.filter(
            revoked_at__isnull=True, access_expires_at__gt=timezone.now()
        ).count(),
    }
    return render(request, "console/client_delete.html", context)


urlpatterns = [
    path("clients/", clients, name="console-clients"),
    path("clients/<client_id:client_id>/", client_detail, name="console-client"),
    path("clients/<client_id:client_id>/edit/", client_edit, name="console-client-edit"),
    path(
        "clients/<client_id:client_id>/rotate-secret/",
        client_secret_rotate,
        name="console-client-secret",
    ),
    path("clients/<client_id:client_id>/toggle/", client_toggle, name="console-client-toggle"),
    path("clients/<client_id:client_id>/delete/", client_delete_view, name="console-client-delete"),
]
