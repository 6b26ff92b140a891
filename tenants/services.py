"""Writes to the tenant registry: provisioning, suspension, deletion, each audited in the
public schema's log (the operators' own).

Provisioning is one transaction: the tenant row, its schema (created and migrated by
django-tenants inside the same transaction, since PostgreSQL DDL is transactional), its
domain and its first admin user. Any failure rolls all of it back: no schema, row or user
is left behind, and re-running with the same slug is safe.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists

from kernel.accounts.models import User
from kernel.accounts.services import UserError, user_create
from kernel.audit.context import Actor
from kernel.audit.services import audit_record, diff
from kernel.conf import setting
from kernel.errors import DomainError
from kernel.http import public_url
from oauth.models import Client
from oauth.selectors import RATE_LIMIT_FIELDS
from oauth.signing import services as key_services
from tenants.hosts import clear_tenant_host_cache
from tenants.models import Domain, Plan, Tenant, TenantUsage

# RFC 1123 label, 3-63 characters, lowercase; no leading, trailing or doubled-at-3 hyphens
# (xn-- is IDNA's prefix).
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
HOST_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
)


#: How long deleting a tenant waits for its schema's tables to be free.
DELETE_LOCK_TIMEOUT_MS = 5_000
#: PostgreSQL's ``lock_not_available`` (a ``lock_timeout`` that ran out).
LOCK_NOT_AVAILABLE = "55P03"


class ProvisioningError(DomainError):
    """A one-line, operator-facing reason a tenant could not be provisioned."""


@dataclass(frozen=True)
class ProvisionedTenant:
    slug: str
    schema: str
    domain: str
    issuer: str

    def as_dict(self) -> dict:
        return asdict(self)


def validate_slug(slug: str) -> str:
    if not SLUG_RE.match(slug or ""):
        raise ProvisioningError(
            f"invalid slug {slug!r}: use 3-63 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    if slug[2:4] == "--" or slug.startswith("pg-"):
        raise ProvisioningError(f"invalid slug {slug!r}: reserved prefix")
    if slug in setting("RESERVED_SLUGS"):
        raise ProvisioningError(f"slug {slug!r} is reserved; choose another")
    return slug


def schema_name_for(slug: str) -> str:
    # Slugs never contain underscores, so this mapping is one-to-one.
    return slug.replace("-", "_")


def validate_domain(domain: str) -> str:
    domain = domain.strip().lower().rstrip(".")
    if not HOST_RE.match(domain):
        raise ProvisioningError(f"invalid domain {domain!r}")
    if domain == settings.GATEHOUSE_BASE_DOMAIN:
        raise ProvisioningError(f"domain {domain!r} is the public site's")
    return domain


def tenant_provision(
    *,
    slug: str,
    name: str,
    admin_email: str,
    admin_password: str,
    admin_username: str | None = None,
    domain: str | None = None,
    plan: str | None = None,
) -> ProvisionedTenant:
    """Create a tenant, its schema, its domain and its first admin, all or nothing. ``plan``
    is a plan's slug, "" for none; None takes ``GATEHOUSE["DEFAULT_PLAN"]`` (when that plan
    exists)."""
    slug = validate_slug(slug)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ProvisioningError("name must be 1-200 characters")
    domain = validate_domain(domain or f"{slug}.{settings.GATEHOUSE_BASE_DOMAIN}")
    schema = schema_name_for(slug)

    if Tenant.objects.filter(slug=slug).exists() or schema_exists(schema):
        raise ProvisioningError(f"tenant {slug!r} already exists")
    if Domain.objects.filter(domain=domain).exists():
        raise ProvisioningError(f"domain {domain!r} is already in use")
    if plan is None:
        chosen = Plan.objects.filter(slug=setting("DEFAULT_PLAN") or None).first()
    elif not plan:
        chosen = None
    else:
        chosen = Plan.objects.filter(slug=plan).first()
        if chosen is None:
            raise ProvisioningError(f"no plan {plan!r}")

    connection.set_schema_to_public()
    # The admin's Argon2 hash (argon2-cffi releases the GIL) is computed in a thread while this
    # one waits on PostgreSQL copying the schema: measured 0.6-1.0 s of a provisioning each.
    hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="provision-hash")
    password_hash = hashing.submit(make_password, admin_password)
    try:
        with transaction.atomic():
            tenant = Tenant(slug=slug, name=name, schema_name=schema, plan=chosen)
            tenant.save(verbosity=0)
            Domain.objects.create(domain=domain, tenant=tenant, is_primary=True)
            with schema_context(schema):
                _provision_tenant_contents(
                    admin_username=admin_username or admin_email,
                    admin_email=admin_email,
                    admin_password=admin_password,
                    password_hash=password_hash.result(),
                )
            audit_record(
                action="tenant.provisioned",
                object_type="tenant",
                object_id=str(tenant.pk),
                object_label=slug,
                changes={
                    "name": name,
                    "domain": domain,
                    "admin email": admin_email,
                    "plan": chosen.slug if chosen else None,
                },
            )
    except UserError as exc:
        raise ProvisioningError(f"admin user: {exc}") from None
    except IntegrityError:
        raise ProvisioningError(f"tenant {slug!r} already exists") from None
    finally:
        hashing.shutdown(cancel_futures=True)
        connection.set_schema_to_public()
        clear_tenant_host_cache()
    return ProvisionedTenant(slug=slug, schema=schema, domain=domain, issuer=public_url(domain))


def _provision_tenant_contents(
    *, admin_username: str, admin_email: str, admin_password: str, password_hash: str | None = None
) -> None:
    """Everything a new tenant schema starts with. Runs inside the provisioning transaction."""
    user_create(
        username=admin_username,
        password=admin_password,
        email=admin_email,
        is_staff=True,
        is_superuser=True,
        password_hash=password_hash,
    )
    # A current and a published next key per alg (RS256, ES256), so the first rotation
    # never has to wait for relying parties to learn a new key.
    key_services.provision_signing_keys()


_STATUS_ACTIONS = {
    Tenant.Status.ACTIVE: "tenant.reactivated",
    Tenant.Status.SUSPENDED: "tenant.suspended",
}


@transaction.atomic
def tenant_set_status(*, tenant: Tenant, status: str) -> Tenant:
    """Suspend or reactivate ``tenant`` (a no-op, unaudited, when it already has ``status``)."""
    if status not in Tenant.Status.values:
        raise ProvisioningError(f"unknown status {status!r}")
    connection.set_schema_to_public()
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if tenant.status == status:
        return tenant
    before = tenant.status
    tenant.status = status
    tenant.save(update_fields=["status"])
    audit_record(
        action=_STATUS_ACTIONS[status],
        object_type="tenant",
        object_id=str(tenant.pk),
        object_label=tenant.slug,
        changes=diff({"status": before}, {"status": status}),
    )
    return tenant


def _plan_limits(rate_limits: dict) -> dict[str, int]:
    """A plan's quotas, checked: known ``GATEHOUSE["RATE_LIMITS"]`` names, positive whole
    numbers; a name given as None is left out (the platform default)."""
    limits = {}
    for name, value in (rate_limits or {}).items():
        if name not in RATE_LIMIT_FIELDS:
            raise ProvisioningError(f"unknown rate limit {name!r}")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ProvisioningError(f"{name} must be a positive whole number")
        limits[name] = value
    return limits


@transaction.atomic
def plan_save(*, slug: str, name: str, rate_limits: dict) -> Plan:
    """Create or change the plan ``slug``; every tenant on it has the new quotas within
    ``GATEHOUSE["TENANT_CACHE_SECONDS"]`` (at once in this process). Audited as
    ``plan.created`` or ``plan.changed``."""
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise ProvisioningError("plan slug must be 3-63 lowercase letters, digits and hyphens")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ProvisioningError("plan name must be 1-200 characters")
    limits = _plan_limits(rate_limits)
    connection.set_schema_to_public()
    plan = Plan.objects.select_for_update().filter(slug=slug).first()
    before = {"name": plan.name, **plan.rate_limits} if plan else {}
    if plan is None:
        plan = Plan(slug=slug)
    plan.name, plan.rate_limits = name, limits
    changes = diff(before, {"name": name, **limits})
    if not changes:
        return plan
    created = plan.pk is None
    plan.save()
    audit_record(
        action="plan.created" if created else "plan.changed",
        object_type="plan",
        object_id=str(plan.pk),
        object_label=slug,
        changes=changes,
    )
    clear_tenant_host_cache()
    return plan


@transaction.atomic
def tenant_set_plan(*, tenant: Tenant, plan: Plan | None) -> Tenant:
    """Put ``tenant`` on ``plan`` (None: no plan, the platform defaults); its quotas apply
    within ``GATEHOUSE["TENANT_CACHE_SECONDS"]``. Audited as ``tenant.plan_changed``; a no-op
    when nothing changes."""
    connection.set_schema_to_public()
    tenant = Tenant.objects.select_for_update(of=("self",)).select_related("plan").get(pk=tenant.pk)
    before = tenant.plan.slug if tenant.plan else None
    after = plan.slug if plan else None
    if before == after:
        return tenant
    tenant.plan = plan
    tenant.save(update_fields=["plan"])
    audit_record(
        action="tenant.plan_changed",
        object_type="tenant",
        object_id=str(tenant.pk),
        object_label=tenant.slug,
        changes=diff({"plan": before}, {"plan": after}),
    )
    return tenant


def tenant_delete(*, tenant: Tenant) -> None:
    """Delete a suspended tenant: its schema (``DROP SCHEMA ... CASCADE``: every client, user,
    token and key in it), its domains and its row, in one transaction with its audit row.

    Only a suspended tenant can go: suspending first stops its traffic and makes deletion a
    second, deliberate step. The drop is one DDL statement, quick even for a large schema
    (PostgreSQL unlinks the tables' files), so it runs in the request.
    """
    connection.set_schema_to_public()
    try:
        with transaction.atomic():
            # The drop waits for every open transaction on the schema's tables; a bounded
            # wait turns a stuck one into a message instead of a hung request.
            with connection.cursor() as cursor:
                # set_config(..., true) is SET LOCAL that takes a bound parameter (a SET
                # statement cannot: statements are bound on the server in session mode).
                cursor.execute(
                    "SELECT set_config('lock_timeout', %s, true)", [f"{DELETE_LOCK_TIMEOUT_MS}ms"]
                )
            tenant = Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
            if tenant is None:
                raise ProvisioningError("this tenant no longer exists")
            if tenant.status != Tenant.Status.SUSPENDED:
                raise ProvisioningError(f"suspend tenant {tenant.slug!r} before deleting it")
            label, pk = tenant.slug, tenant.pk
            domains = sorted(tenant.domains.values_list("domain", flat=True))
            # TenantMixin.delete drops the schema first, then the row; domains cascade.
            tenant.delete(force_drop=True)
            audit_record(
                action="tenant.deleted",
                object_type="tenant",
                object_id=str(pk),
                object_label=label,
                changes={"domains": domains},
            )
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        raise ProvisioningError(
            "its data is still in use by a running request or job; try again in a minute"
        ) from None
    finally:
        connection.set_schema_to_public()
        clear_tenant_host_cache()


def operator_sign_in_record(*, username: str, actor: Actor, succeeded: bool) -> None:
    """An operator's sign-in to the operators' console, or a failed attempt, in the log."""
    audit_record(
        action="operator.signed_in" if succeeded else "operator.sign_in_failed",
        object_type="operator",
        object_label=username[:200],
        actor=actor,
    )


def tenant_usage_record(*, schema: str) -> TenantUsage | None:
    """Count the users and clients in ``schema`` (a tenant's) and store the numbers in its
    public ``TenantUsage`` row, for the operators' list. None when no tenant has ``schema``
    (deleted since the fan-out queued this)."""
    with schema_context(get_public_schema_name()):
        tenant = Tenant.objects.filter(schema_name=schema).first()
    if tenant is None or not schema_exists(schema):
        return None
    with schema_context(schema):
        users, clients = User.objects.count(), Client.objects.count()
    with schema_context(get_public_schema_name()):
        usage, _ = TenantUsage.objects.update_or_create(
            tenant=tenant,
            defaults={"users": users, "clients": clients, "measured_at": timezone.now()},
        )
    return usage
