from django.db import models


class IssuerSettings(models.Model):
    """Per-tenant issuer policy: one row in each tenant schema (``IssuerSettings.load()``)."""

    access_token_lifetime = models.PositiveIntegerField(default=3600, help_text="seconds")
    refresh_token_lifetime = models.PositiveIntegerField(
        default=30 * 24 * 3600, help_text="seconds"
    )
    authorization_code_lifetime = models.PositiveIntegerField(default=60, help_text="seconds")
    # RFC 9700 §4.14.2: a rotated-out refresh token presented within this many seconds of its
    # rotation is a lost race (invalid_grant, nothing revoked); later it is reuse (family
    # revoked). 0 = strict.
    refresh_reuse_window = models.PositiveIntegerField(default=2, help_text="seconds")
    # RFC 8707 audience of JWT access tokens when the client names no resource.
    default_resource = models.CharField(max_length=500, blank=True, default="")
    signing_key_rotation_days = models.PositiveIntegerField(default=90)
    jwks_max_age = models.PositiveIntegerField(default=3600, help_text="seconds")

    class Meta:
        verbose_name = "issuer settings"
        verbose_name_plural = "issuer settings"

    @classmethod
    def load(cls) -> "IssuerSettings":
        obj = cls.objects.order_by("pk").first()
        if obj is None:
            obj, _ = cls.objects.get_or_create(pk=1)
        return obj
