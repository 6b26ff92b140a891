"""Users. One table per schema: a tenant's users live in its schema, operators in public."""

import secrets
import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who signs in at one tenant (or an operator, in the public schema).

    ``id`` is a random UUID and becomes the OpenID Connect ``sub`` (OIDC Core §2, §5.7):
    stable, never reassigned, and it reveals nothing about the user or their tenant.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", blank=True, db_index=True)
    email_verified = models.BooleanField(default=False)

    class Meta:
        db_table = "accounts_user"
        verbose_name = "user"
        verbose_name_plural = "users"

    @property
    def sub(self) -> str:
        return str(self.id)


class LoginHandoff(models.Model):
    """A one-time sign-in link from the public signup to the new tenant's console.

    Session cookies are host-only, so the public site cannot sign anyone in at a tenant host.
    Signup makes one of these in the tenant's schema; the console redeems it once, within a
    minute, and signs the admin in there. Only the SHA-256 digest of the token is stored.
    """

    token_digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


def new_sid() -> str:
    """A fresh OIDC ``sid`` (192 random bits, base64url)."""
    return secrets.token_urlsafe(24)


class UserSession(models.Model):
    """One signed-in session of a user: the index that lets an admin see a user's sessions
    and end one, or all of them when the user is disabled (the session store itself cannot
    be searched by user). Kept by the ``user_logged_in`` / ``user_logged_out`` signals.

    ``session_key`` is a bearer credential: it is never shown or audited; pages name a
    session by ``pk``. ``sid`` is the OpenID Connect session identifier (Back-Channel
    Logout 1.0 §2.1, Front-Channel Logout §3): random, opaque, and stable for the browser
    session (a step-up sign-in or ``cycle_key`` keeps it), so it can go into id_tokens and
    logout tokens without revealing the session key.
    """

    session_key = models.CharField(max_length=64, unique=True)
    sid = models.CharField(max_length=64, unique=True, default=new_sid)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    created_at = models.DateTimeField()
    ip = models.CharField(max_length=64, blank=True, default="")
    user_agent = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created_at"], name="accounts_session_user"),
            # The purge's scan (workers.purge, "user_sessions"), oldest first.
            models.Index(fields=["created_at"], name="accounts_session_created"),
        ]


class PasswordReset(models.Model):
    """A single-use, short-lived password-reset link sent by email (an admin's "send reset"
    or the user's own "forgot password"). Only the SHA-256 digest of its token is stored;
    it is spent by ``used_at`` and dies at ``expires_at``."""

    token_digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_resets")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class EmailVerification(models.Model):
    """A single-use, expiring link that proves ``user`` reads ``email`` (sent on creation
    and on every change of address). Only the SHA-256 digest of its token is stored. The
    address is kept so that a link sent to an old address cannot verify a new one."""

    token_digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_verifications")
    email = models.EmailField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class AccountPolicy(models.Model):
    """The tenant's end-user account policy: one row per schema (``AccountPolicy.load()``),
    set by its admins in the console."""

    #: The name mails from this tenant are sent under ("Acme Sign-in" <no-reply@...>);
    #: empty uses the branding's display name, then the tenant's name.
    email_sender_name = models.CharField(max_length=100, blank=True, default="")
    #: Whether a user must have verified their email address before they may sign in.
    email_verification_required = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "account policy"
        verbose_name_plural = "account policy"

    @classmethod
    def load(cls) -> "AccountPolicy":
        obj = cls.objects.order_by("pk").first()
        if obj is None:
            obj, _ = cls.objects.get_or_create(pk=1)
        return obj
