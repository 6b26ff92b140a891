"""Tenants and their hosts. Shared app: these tables live in the public schema only."""

from django.db import models
from django_tenants.models import DomainMixin, TenantMixin
from django_tenants.utils import schema_exists

from tenants import template


class Plan(models.Model):
    """What a tenant is sold: a name and the quotas that come with it.

    ``rate_limits`` holds ``GATEHOUSE["RATE_LIMITS"]`` names (``CLIENT_REQUESTS``, ...) with
    their numbers; a name left out takes the platform default. They apply to every tenant on
    the plan, read at request time (``Tenant.plan_rate_limits``, ``oauth.ratelimits``), under
    the overrides an operator sets on one tenant (``set_rate_limits``).
    """

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    rate_limits = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Tenant(TenantMixin):
    """A customer. Owns one PostgreSQL schema, its issuer host(s) and everything in it."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    #: None: no plan, the platform's default quotas.
    plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="tenants"
    )

    # The schema is created and migrated on first save; on failure the provisioning
    # transaction rolls back the schema along with the rows (PostgreSQL DDL is transactional).
    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def create_schema(self, check_if_exists=False, sync_schema=True, verbosity=1):
        """django-tenants' hook, called by the first ``save()``: the schema as a copy of the
        migrated template (``tenants.template``) instead of ~35 migrations applied to an empty
        one. Returns False when it already existed (``check_if_exists``), as django-tenants'."""
        if not sync_schema:
            return super().create_schema(check_if_exists, sync_schema, verbosity)
        if check_if_exists and schema_exists(self.schema_name):
            return False
        template.schema_create(self.schema_name, verbosity=0 if verbosity < 2 else verbosity)
        return True

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def plan_rate_limits(self) -> dict[str, int]:
        """The plan's quotas (``GATEHOUSE["RATE_LIMITS"]`` names), read by
        ``oauth.ratelimits`` from the request's tenant; the Host lookup loads the plan with
        the tenant (``tenants.selectors``), so this costs no query on the request path."""
        return dict(self.plan.rate_limits) if self.plan_id else {}


class Domain(DomainMixin):
    """A host name that routes to a tenant (``<slug>.<base domain>`` or a custom domain)."""

    def __str__(self) -> str:
        return self.domain


class TenantUsage(models.Model):
    """What a tenant holds, as a worker last counted it in its schema
    (``services.tenant_usage_record``), so the operators' list shows counts without
    scanning every schema. A tenant not yet measured has no row."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="usage")
    users = models.PositiveIntegerField(default=0)
    clients = models.PositiveIntegerField(default=0)
    measured_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.users} users, {self.clients} clients"
