from django.db import models


class SigningKey(models.Model):
    """A tenant's JWS signing key (RFC 7517). Moves next -> current -> retiring -> retired.

    JWKS publishes next, current and retiring keys; ``private_key`` is the PEM encrypted
    with MultiFernet keys from GATEHOUSE_KEY_ENCRYPTION_KEY, never stored in the clear.
    """

    class State(models.TextChoices):
        NEXT = "next", "Next"
        CURRENT = "current", "Current"
        RETIRING = "retiring", "Retiring"
        RETIRED = "retired", "Retired"

    kid = models.CharField(max_length=64, unique=True)  # RFC 7638 thumbprint
    alg = models.CharField(max_length=8)  # RS256 or ES256
    state = models.CharField(max_length=16, choices=State.choices, db_index=True)
    public_jwk = models.JSONField()
    private_key = models.TextField()  # MultiFernet token of the PEM
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # A retiring key stays published until every token it signed has expired.
    retire_after = models.DateTimeField(null=True, blank=True)
