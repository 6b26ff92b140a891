from django.core.validators import RegexValidator
from django.db import models

#: ``#rrggbb`` only: the colour is written into a CSS custom property, so nothing else may
#: pass (no ``;``, ``}``, ``url(...)``).
HEX_COLOUR = RegexValidator(r"^#[0-9a-f]{6}\Z", "Enter a colour as # and six hex digits.")


class Branding(models.Model):
    """How this tenant's sign-in, consent, logout and error pages look: one row per schema.

    The logo's bytes live here, in the tenant's own schema (no shared media storage to
    keep apart), checked by ``oauth.branding.logo_content_type`` before they are stored.
    """

    display_name = models.CharField(max_length=100, blank=True, default="")
    primary_colour = models.CharField(max_length=7, blank=True, default="", validators=[HEX_COLOUR])
    logo = models.BinaryField(blank=True, default=b"")
    logo_content_type = models.CharField(max_length=16, blank=True, default="")
    logo_sha256 = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    @classmethod
    def load(cls) -> "Branding":
        obj = cls.objects.order_by("pk").first()
        if obj is None:
            obj, _ = cls.objects.get_or_create(pk=1)
        return obj
