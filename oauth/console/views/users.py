"""Users: list, search, add."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from kernel.accounts.models import User
from kernel.accounts.services import UserError, user_create
from oauth.console.forms.users import UserForm
from oauth.console.views.access import PAGE_SIZE, staff_required


@sensitive_post_parameters("password")
@staff_required
@require_http_methods(["GET", "POST"])
def users(request):
    form = UserForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user_create(
                username=data["username"],
                password=data["password"],
                email=data["email"] or "",
                is_staff=data["staff"],
            )
        except UserError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"User {data['username']} created.")
            return redirect("console-users")
    query = (request.GET.get("q") or "").replace("\x00", "").strip()[:100]
    users_qs = User.objects.order_by("username")
    if query:
        users_qs = users_qs.filter(Q(username__icontains=query) | Q(email__icontains=query))
    page = Paginator(users_qs, PAGE_SIZE).get_page(request.GET.get("page"))
    status = 400 if form.errors else 200
    return render(
        request, "console/users.html", {"form": form, "page": page, "q": query}, status=status
    )


urlpatterns = [
    path("users/", users, name="console-users"),
]
