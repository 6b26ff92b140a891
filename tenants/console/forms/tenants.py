from django import forms
from django.contrib.auth.password_validation import validate_password
from django_tenants.utils import schema_exists

from kernel.accounts.models import User
from kernel.conf import setting
from oauth.selectors import RATE_LIMIT_FIELDS
from tenants.models import Domain, Plan, Tenant
from tenants.selectors import NO_PLAN, TENANT_ORDERS, plans
from tenants.services import (
    ProvisioningError,
    schema_name_for,
    validate_domain,
    validate_slug,
)

#: Deepest page the list offers (an OFFSET past this is refused, not scanned).
MAX_PAGE = 10_000


class TenantFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any"), *Tenant.Status.choices]
    )
    order = forms.ChoiceField(
        label="Order",
        required=False,
        choices=[("newest", "Newest first"), ("oldest", "Oldest first"), ("slug", "By slug")],
    )
    created_from = forms.DateField(
        label="Created from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        label="Created to", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    plan = forms.ChoiceField(label="Plan", required=False)
    page = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = [
            ("", "Any"),
            (NO_PLAN, "No plan"),
            *((plan.slug, plan.name) for plan in plans()),
        ]

    def clean(self):
        data = super().clean()
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "Choose a date on or after “Created from”.")
        return data

    def clean_q(self):
        return self.cleaned_data["q"].strip()

    def clean_order(self):
        order = self.cleaned_data["order"]
        return order if order in TENANT_ORDERS else "newest"


class TenantCreateForm(forms.Form):
    """The provisioning form: each check in web words beside its field before the service
    runs (which checks again, so a race ends in a form error, not a half-made tenant)."""

    name = forms.CharField(label="Organisation name", max_length=200)
    slug = forms.CharField(
        label="Subdomain (slug)",
        max_length=63,
        help_text="3-63 lowercase letters, digits and hyphens; the issuer's host name starts "
        "with it.",
    )
    admin_email = forms.EmailField(label="First admin's email", max_length=254)
    admin_password = forms.CharField(
        label="First admin's password", widget=forms.PasswordInput, max_length=256, strip=False
    )
    domain = forms.CharField(
        label="Custom domain (optional)",
        required=False,
        max_length=253,
        help_text="Leave empty for <slug>.<base domain>.",
    )
    plan = forms.ModelChoiceField(
        label="Plan",
        queryset=Plan.objects.order_by("name", "slug"),
        to_field_name="slug",
        required=False,
        empty_label="No plan (the platform's default limits)",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].initial = setting("DEFAULT_PLAN") or None

    def clean_name(self):
        return self.cleaned_data["name"].strip()

    def clean_slug(self):
        slug = self.cleaned_data["slug"].strip().lower()
        try:
            validate_slug(slug)
        except ProvisioningError:
            if slug in _reserved():
                raise forms.ValidationError("This subdomain is reserved. Choose another.") from None
            raise forms.ValidationError(
                "Use 3-63 lowercase letters, digits and hyphens, starting and ending with a "
                "letter or digit (and not starting with “pg-” or two letters and “--”)."
            ) from None
        if Tenant.objects.filter(slug=slug).exists() or schema_exists(schema_name_for(slug)):
            raise forms.ValidationError("A tenant with this subdomain already exists.")
        return slug

    def clean_domain(self):
        domain = self.cleaned_data["domain"].strip().lower().rstrip(".")
        if not domain:
            return ""
        try:
            domain = validate_domain(domain)
        except ProvisioningError:
            raise forms.ValidationError(
                "Enter a host name such as login.example.com, not the platform's own."
            ) from None
        if Domain.objects.filter(domain=domain).exists():
            raise forms.ValidationError("This domain already belongs to a tenant.")
        return domain

    def clean(self):
        data = super().clean()
        password, email = data.get("admin_password"), data.get("admin_email")
        if password:
            # The admin as the service will create them, so "too similar to your email" is
            # said here, beside the field, rather than after provisioning has begun.
            admin = User(username=email or "", email=email or "")
            try:
                validate_password(password, user=admin)
            except forms.ValidationError as exc:
                self.add_error("admin_password", exc)
        return data


def _reserved() -> list[str]:
    return setting("RESERVED_SLUGS")


class ConfirmSlugForm(forms.Form):
    """Deleting a tenant: its slug, typed again, says the operator means this one."""

    slug = forms.CharField(label="Type the tenant's slug to confirm", max_length=63)

    def __init__(self, *args, expected: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.expected = expected

    def clean_slug(self):
        if self.cleaned_data["slug"].strip() != self.expected:
            raise forms.ValidationError(f"Type “{self.expected}” exactly to delete this tenant.")
        return self.expected


class TenantPlanForm(forms.Form):
    plan = forms.ModelChoiceField(
        label="Plan",
        queryset=Plan.objects.order_by("name", "slug"),
        to_field_name="slug",
        required=False,
        empty_label="No plan (the platform's default limits)",
    )


#: The limits a plan sets, in words, by ``GATEHOUSE["RATE_LIMITS"]`` name.
LIMIT_LABELS = {
    "CLIENT_REQUESTS": "Successful requests per client per window",
    "TENANT_REQUESTS": "Successful requests per tenant per window",
    "IP_REQUESTS": "Requests per source address per window",
    "IP_AUTH_FAILURES": "Failed authentications per source address per failure window",
    "CLIENT_IP_AUTH_FAILURES": "Failed authentications per client and address per failure window",
}


#: The same limits as table headings, short; the plans page says what each window is.
LIMIT_HEADINGS = {
    "CLIENT_REQUESTS": "Per client",
    "TENANT_REQUESTS": "Per tenant",
    "IP_REQUESTS": "Per address",
    "IP_AUTH_FAILURES": "Failed auth. per address",
    "CLIENT_IP_AUTH_FAILURES": "Failed auth. per client + address",
}


class PlanForm(forms.Form):
    """A plan's name and quotas; an empty limit is the platform default (shown beside it)."""

    slug = forms.SlugField(
        label="Slug",
        max_length=63,
        help_text="3-63 lowercase letters, digits and hyphens; tenants' pages show the name.",
    )
    name = forms.CharField(label="Name", max_length=200)

    def __init__(self, *args, defaults: dict[str, int], editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["slug"].disabled = True
        for name in RATE_LIMIT_FIELDS:
            self.fields[name] = forms.IntegerField(
                label=LIMIT_LABELS.get(name, name),
                required=False,
                min_value=1,
                max_value=10**9,
                help_text=f"Empty: the platform default ({defaults[name]:,}).",
            )

    def clean_slug(self):
        return self.cleaned_data["slug"].strip().lower()

    def clean_name(self):
        return self.cleaned_data["name"].strip()

    def limits(self) -> dict[str, int]:
        return {
            name: self.cleaned_data[name]
            for name in RATE_LIMIT_FIELDS
            if self.cleaned_data.get(name) is not None
        }
