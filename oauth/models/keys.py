from django.db import models
from django.db.models import Q


class SigningKey(models.Model):
    """A tenant's JWS signing key (RFC 7517 §4, RFC 7518 §3). One row per key, per schema.

    Life cycle (OIDC Core §10.1.1, rotation without a gap), driven by ``oauth.signing.services``:

    - ``next``: published in JWKS, never signs. Relying parties pick it up with their next
      JWKS fetch, so when it becomes current its ``kid`` is already known to them.
    - ``current``: signs every new JWT of its ``alg``; exactly one per alg (a partial unique
      index enforces it).
    - ``retiring``: no longer signs, still published and accepted until ``retire_after``,
      when every token it signed has expired.
    - ``retired``: gone from JWKS and verification. The row stays as an audit record
      (kid, public JWK, dates); its private key is erased.

    ``kid`` is the RFC 7638 JWK thumbprint of ``public_jwk``. ``private_key`` is the PKCS#8
    PEM as a MultiFernet token (keys from GATEHOUSE_KEY_ENCRYPTION_KEY), never in the clear.
    """

    class State(models.TextChoices):
        NEXT = "next", "Next"
        CURRENT = "current", "Current"
        RETIRING = "retiring", "Retiring"
        RETIRED = "retired", "Retired"

    class Alg(models.TextChoices):
        RS256 = "RS256", "RS256 (RSA 2048)"
        ES256 = "ES256", "ES256 (EC P-256)"
        PS256 = "PS256", "PS256 (RSA-PSS 2048)"

    kid = models.CharField(max_length=64, unique=True)  # RFC 7638 thumbprint
    alg = models.CharField(max_length=8, choices=Alg.choices)
    state = models.CharField(max_length=16, choices=State.choices, db_index=True)
    public_jwk = models.JSONField()
    private_key = models.TextField()  # MultiFernet token of the PEM; "" once retired
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # A retiring key stays published until every token it signed has expired.
    retire_after = models.DateTimeField(null=True, blank=True)
    # When it last signed a JWT, to the minute: each process writes it at most once a
    # minute per key (``signing.services.signing_key_used``), never once per token.
    last_signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Two concurrent rotations must never leave two signing keys for one alg.
            models.UniqueConstraint(
                fields=["alg"],
                condition=Q(state="current"),
                name="oauth_signingkey_one_current_per_alg",
            ),
            models.UniqueConstraint(
                fields=["alg"],
                condition=Q(state="next"),
                name="oauth_signingkey_one_next_per_alg",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alg} {self.state} {self.kid}"
