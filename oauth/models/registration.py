"""Dynamic client registration (RFC 7591 §3) and Client ID Metadata Documents
(draft-ietf-oauth-client-id-metadata-document): the tenant admin's policy and the initial
access tokens minted for it."""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


def _strings():
    return ArrayField(models.CharField(max_length=500), default=list, blank=True)


class RegistrationPolicy(models.Model):
    """Who may register clients at ``/oauth/register`` and which client_id URLs are
    resolved as metadata documents: one row in each tenant schema (``load()``).

    Everything is off on a new tenant; the tenant admin turns it on in the console."""

    class Mode(models.TextChoices):
        OFF = "off", "Off: clients are registered in the console only"
        TOKEN = "token", "With an initial access token minted in the console"
        OPEN = "open", "Open: anyone may register a client (for MCP clients)"

    class DocumentMode(models.TextChoices):
        OFF = "off", "Off"
        HOSTS = "hosts", "Only documents on the listed hosts"
        ANY = "any", "Any https host"

    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.OFF)
    #: Grant types a registered client may ask for (RFC 7591 §2 ``grant_types``).
    allowed_grant_types = _strings()
    #: Redirect URI schemes (``https``, ``http`` for loopback, private-use schemes).
    allowed_redirect_schemes = _strings()
    #: Redirect URI hosts; empty = any host.
    allowed_redirect_hosts = _strings()
    #: RFC 8707 resources (the MCP servers this tenant protects) every self-registered client
    #: may ask a token for.
    resources = _strings()
    clients_per_hour = models.PositiveIntegerField(default=100)
    clients_per_ip_per_hour = models.PositiveIntegerField(default=10)
    documents = models.CharField(
        max_length=8, choices=DocumentMode.choices, default=DocumentMode.OFF
    )
    document_hosts = _strings()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "registration policy"
        verbose_name_plural = "registration policies"

    @classmethod
    def load(cls) -> "RegistrationPolicy":
        obj = cls.objects.order_by("pk").first()
        if obj is None:
            obj, _ = cls.objects.get_or_create(
                pk=1,
                defaults={
                    "allowed_grant_types": ["authorization_code", "refresh_token"],
                    "allowed_redirect_schemes": ["https", "http"],
                },
            )
        return obj


class InitialAccessToken(models.Model):
    """An RFC 7591 §3 initial access token: only its SHA-256 digest is kept (DESIGN.md §3).

    ``uses_left`` counts down on each registration; ``scopes`` and ``redirect_hosts``, when
    set, bound what a client registered with it may ask for."""

    token_digest = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=200, blank=True, default="")
    expires_at = models.DateTimeField()
    uses_left = models.PositiveIntegerField(default=1)
    scopes = _strings()
    redirect_hosts = _strings()
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.label or f"initial access token {self.pk}"

    @property
    def usable(self) -> bool:
        return self.revoked_at is None and self.uses_left > 0 and self.expires_at > timezone.now()
