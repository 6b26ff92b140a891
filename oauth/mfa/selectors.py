"""Reads: the tenant's MFA policy and a user's second factors."""

from __future__ import annotations

from dataclasses import dataclass

from oauth.mfa.models import MFAPolicy, RecoveryCode, TOTPDevice, WebAuthnCredential


def policy_mode() -> str:
    """The tenant's policy (``MFAPolicy.Mode``); a tenant that never set one is optional."""
    mode = MFAPolicy.objects.filter(pk=1).values_list("mode", flat=True).first()
    return mode or MFAPolicy.Mode.OPTIONAL


def mfa_enabled() -> bool:
    return policy_mode() != MFAPolicy.Mode.OFF


def factor_required(user) -> bool:
    """Whether the policy makes ``user`` have a second factor (admins: ``is_staff``)."""
    mode = policy_mode()
    return mode == MFAPolicy.Mode.EVERYONE or (mode == MFAPolicy.Mode.ADMINS and user.is_staff)


def has_totp(user) -> bool:
    return TOTPDevice.objects.filter(user=user).exists()


def passkeys(user) -> list[WebAuthnCredential]:
    return list(WebAuthnCredential.objects.filter(user=user).order_by("created_at"))


def recovery_codes_left(user) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def has_factor(user) -> bool:
    """A TOTP device or a passkey (recovery codes only back those up)."""
    return has_totp(user) or WebAuthnCredential.objects.filter(user=user).exists()


@dataclass(frozen=True)
class Factors:
    """What the account page and the sign-in page show of a user's factors."""

    totp: TOTPDevice | None
    passkeys: list[WebAuthnCredential]
    recovery_codes_left: int

    @property
    def any(self) -> bool:
        return self.totp is not None or bool(self.passkeys)


def factors(user) -> Factors:
    return Factors(
        totp=TOTPDevice.objects.filter(user=user).first(),
        passkeys=passkeys(user),
        recovery_codes_left=recovery_codes_left(user),
    )
