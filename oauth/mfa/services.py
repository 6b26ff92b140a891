"""Writes: enrolling and removing second factors, verifying them, and the tenant's policy.

Each write records its audit row in the same transaction (``mfa.enrolled``, ``mfa.removed``,
``mfa.recovery_codes_regenerated``, ``mfa.recovery_code_used``, ``mfa.failed``,
``mfa.policy_changed``). No row holds a secret, a code, a key or a credential id: only which
kind of factor it was and its name.

TOTP is RFC 6238 through pyotp (6 digits, 30 s, SHA-1: what every authenticator app does);
passkeys are WebAuthn through the ``webauthn`` package, whose ``verify_*`` functions check
the challenge, origin, relying party id hash, flags, signature and signature counter.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from dataclasses import dataclass

import pyotp
from django.db import transaction
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from kernel import credentials
from kernel.audit.context import Actor
from kernel.audit.services import audit_record, diff
from oauth.mfa.models import MFAPolicy, RecoveryCode, TOTPDevice, WebAuthnCredential
from oauth.oidc import acr
from oauth.signing.encryption import decrypt_private_key, encrypt_private_key

#: RFC 6238 §5.2: accept the previous and the next time step too, for clock drift.
TOTP_DRIFT_STEPS = 1
TOTP_STEP_SECONDS = 30
RECOVERY_CODE_COUNT = 10
#: Letters and digits that cannot be misread for one another (no 0/o, 1/l/i).
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
#: 10 characters of a 31-letter alphabet: ~49.5 bits each. Guessing is bounded by the
#: second-factor rate limit, so a fast digest (kernel.credentials) is enough here too.
_RECOVERY_LENGTH = 10
_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}


class FactorError(ValueError):
    """A factor that cannot be enrolled or used; the message says why, for the user."""


def _actor(user, ip: str) -> Actor:
    return Actor(id=str(user.pk), label=user.get_username(), ip=ip)


def _audit(action: str, *, user, ip: str, **changes) -> None:
    audit_record(
        action=action,
        object_type="user",
        object_id=str(user.pk),
        object_label=user.get_username(),
        changes=changes,
        actor=_actor(user, ip),
    )


# -- TOTP (RFC 6238) ------------------------------------------------------------------


def totp_new_secret() -> str:
    """A new shared secret (base32, 160 bits as RFC 4226 §4 recommends)."""
    return pyotp.random_base32(length=32)


def totp_provisioning_uri(*, secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def seal_secret(secret: str) -> str:
    """The secret encrypted as signing keys are (for the session while enrolling, and the
    device row)."""
    return encrypt_private_key(secret.encode("ascii"))


def unseal_secret(token: str) -> str:
    return decrypt_private_key(token).decode("ascii")


def _matching_step(secret: str, code: str, *, after: int, at: float | None = None) -> int | None:
    """The time step within the drift window whose code is ``code``, later than ``after``."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if at is None else at
    current = int(now // TOTP_STEP_SECONDS)
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if step > after and hmac.compare_digest(totp.at(step * TOTP_STEP_SECONDS), code):
            return step
    return None


@transaction.atomic
def totp_enrol(*, user, sealed_secret: str, code: str, ip: str = "") -> list[str] | None:
    """Save the authenticator app whose secret the user was shown, once they typed one of
    its codes (which proves the app holds it). Returns fresh recovery codes when the user
    had none, else None. Raises ``FactorError``."""
    if TOTPDevice.objects.select_for_update().filter(user=user).exists():
        raise FactorError("You already have an authenticator app. Remove it first.")
    secret = unseal_secret(sealed_secret)
    step = _matching_step(secret, code, after=0)
    if step is None:
        raise FactorError("That code is not right. Check the app's clock and try the new code.")
    TOTPDevice.objects.create(
        user=user, encrypted_secret=sealed_secret, last_step=step, last_used_at=timezone.now()
    )
    _audit("mfa.enrolled", user=user, ip=ip, factor="totp")
    return _first_recovery_codes(user=user, ip=ip)


@transaction.atomic
def totp_verify(*, user, code: str) -> bool:
    """Whether ``code`` is the user's current TOTP code, at most once per time step: the
    device row is locked, and a code of an already accepted step is refused (replay)."""
    device = TOTPDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        return False
    step = _matching_step(unseal_secret(device.encrypted_secret), code, after=device.last_step)
    if step is None:
        return False
    device.last_step = step
    device.last_used_at = timezone.now()
    device.save(update_fields=["last_step", "last_used_at"])
    return True


# -- recovery codes -------------------------------------------------------------------


def _normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def _replace_recovery_codes(user) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_digest=credentials.digest(_normalise_recovery_code(code)))
        for code in codes
    )
    return codes


def _first_recovery_codes(*, user, ip: str) -> list[str] | None:
    if RecoveryCode.objects.filter(user=user, used_at__isnull=True).exists():
        return None
    codes = _replace_recovery_codes(user)
    _audit("mfa.recovery_codes_regenerated", user=user, ip=ip, count=len(codes))
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, user, ip: str = "") -> list[str]:
    """Ten new single-use codes (shown once), replacing every earlier one."""
    codes = _replace_recovery_codes(user)
    _audit("mfa.recovery_codes_regenerated", user=user, ip=ip, count=len(codes))
    return codes


@transaction.atomic
def recovery_code_use(*, user, code: str, ip: str = "") -> bool:
    """Spend one unused recovery code of ``user`` (row-locked: a code works once)."""
    normalised = _normalise_recovery_code(code)
    if not normalised:
        return False
    row = (
        RecoveryCode.objects.select_for_update()
        .filter(user=user, code_digest=credentials.digest(normalised), used_at__isnull=True)
        .first()
    )
    if row is None:
        return False
    row.used_at = timezone.now()
    row.save(update_fields=["used_at"])
    left = RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
    _audit("mfa.recovery_code_used", user=user, ip=ip, left=left)
    return True


# -- WebAuthn passkeys ----------------------------------------------------------------


@dataclass(frozen=True)
class PasskeyCheck:
    """A verified passkey assertion: whose key it was and the RFC 8176 ``amr`` it gives."""

    credential: WebAuthnCredential
    amr: list[str]


def passkey_registration_options(*, user, rp_id: str, rp_name: str) -> tuple[str, bytes]:
    """WebAuthn §5.4 creation options (JSON) and their challenge: a discoverable credential
    (so it can sign in without a user name), user verification preferred, the user's
    existing passkeys excluded."""
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_id=user.pk.bytes,
        user_name=user.get_username(),
        user_display_name=user.get_full_name() or user.get_username(),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=credentials_id_bytes(row.credential_id))
            for row in WebAuthnCredential.objects.filter(user=user)
        ],
    )
    return options_to_json(options), options.challenge


def passkey_authentication_options(*, rp_id: str, user=None) -> tuple[str, bytes]:
    """WebAuthn §5.5 request options: for ``user``'s passkeys, or (no user) for any
    discoverable passkey of this relying party."""
    allow = None
    if user is not None:
        allow = [
            PublicKeyCredentialDescriptor(id=credentials_id_bytes(row.credential_id))
            for row in WebAuthnCredential.objects.filter(user=user)
        ]
    options = generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options), options.challenge


def credentials_id_bytes(credential_id: str) -> bytes:
    return base64url_to_bytes(credential_id)


def _parse(credential_json: str) -> dict:
    try:
        credential = json.loads(credential_json)
    except ValueError:
        raise FactorError("The browser's answer could not be read. Try again.") from None
    if not isinstance(credential, dict):
        raise FactorError("The browser's answer could not be read. Try again.")
    return credential


@transaction.atomic
def passkey_register(
    *,
    user,
    credential_json: str,
    challenge: bytes,
    rp_id: str,
    origin: str,
    name: str = "",
    ip: str = "",
) -> tuple[WebAuthnCredential, list[str] | None]:
    """Verify a new credential (WebAuthn §7.1) and save it; returns it and fresh recovery
    codes when the user had none. Raises ``FactorError``."""
    credential = _parse(credential_json)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise FactorError("The passkey could not be registered. Try again.") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if WebAuthnCredential.objects.filter(credential_id=credential_id).exists():
        raise FactorError("This passkey is already registered.")
    response = credential.get("response")
    transports = response.get("transports") if isinstance(response, dict) else None
    row = WebAuthnCredential.objects.create(
        user=user,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[t for t in (transports or []) if t in _TRANSPORTS],
        backed_up=verified.credential_backed_up,
        name=(name or "").strip()[:100] or "Passkey",
    )
    _audit("mfa.enrolled", user=user, ip=ip, factor="passkey", name=row.name)
    return row, _first_recovery_codes(user=user, ip=ip)


@transaction.atomic
def passkey_authenticate(
    *, credential_json: str, challenge: bytes, rp_id: str, origin: str, user=None
) -> PasskeyCheck:
    """Verify an assertion (WebAuthn §7.2) with the stored public key and counter, for
    ``user``'s passkeys, or any passkey in this schema when ``user`` is None (sign-in
    without a user name). The credential row is locked while its counter moves on.
    Raises ``FactorError``."""
    credential = _parse(credential_json)
    credential_id = credential.get("id")
    row = None
    if isinstance(credential_id, str):
        query = WebAuthnCredential.objects.select_for_update().filter(credential_id=credential_id)
        if user is not None:
            query = query.filter(user=user)
        row = query.first()
    if row is None:
        raise FactorError("This passkey is not registered here.")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=bytes(row.public_key),
            credential_current_sign_count=row.sign_count,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise FactorError("The passkey could not be verified. Try again.") from None
    row.sign_count = verified.new_sign_count
    row.backed_up = verified.credential_backed_up
    row.last_used_at = timezone.now()
    row.save(update_fields=["sign_count", "backed_up", "last_used_at"])
    method = acr.SWK if verified.credential_backed_up else acr.HWK
    amr = [method, acr.MFA] if verified.user_verified else [method]
    return PasskeyCheck(credential=row, amr=amr)


@transaction.atomic
def passkey_rename(*, user, passkey_id: int, name: str, ip: str = "") -> bool:
    name = (name or "").strip()[:100]
    if not name:
        return False
    updated = WebAuthnCredential.objects.filter(user=user, pk=passkey_id).update(name=name)
    if updated:
        _audit("mfa.renamed", user=user, ip=ip, factor="passkey", name=name)
    return bool(updated)


# -- removal, failures, policy --------------------------------------------------------


@transaction.atomic
def factor_remove(*, user, factor: str, passkey_id: int | None = None, ip: str = "") -> bool:
    """Remove the user's TOTP device (``factor="totp"``) or one passkey. When no factor is
    left, the recovery codes go too (they only stand in for a factor)."""
    if factor == "totp":
        deleted, _ = TOTPDevice.objects.filter(user=user).delete()
        label = "Authenticator app"
    else:
        row = WebAuthnCredential.objects.filter(user=user, pk=passkey_id).first()
        if row is None:
            return False
        label = row.name
        deleted, _ = WebAuthnCredential.objects.filter(pk=row.pk).delete()
    if not deleted:
        return False
    _audit("mfa.removed", user=user, ip=ip, factor=factor, name=label)
    if not (
        TOTPDevice.objects.filter(user=user).exists()
        or WebAuthnCredential.objects.filter(user=user).exists()
    ):
        RecoveryCode.objects.filter(user=user).delete()
    return True


@transaction.atomic
def second_factor_failure_record(*, user, method: str, ip: str = "") -> None:
    """``mfa.failed``: a wrong second factor after a correct password (which method)."""
    _audit("mfa.failed", user=user, ip=ip, method=method)


@transaction.atomic
def policy_set(*, mode: str) -> MFAPolicy:
    """Set the tenant's MFA policy (``MFAPolicy.Mode``), by the current actor."""
    if mode not in MFAPolicy.Mode.values:
        raise FactorError(f"Unknown MFA policy {mode!r}.")
    policy = MFAPolicy.load()
    before = policy.mode
    policy.mode = mode
    policy.save(update_fields=["mode", "updated_at"])
    audit_record(
        action="mfa.policy_changed",
        object_type="mfa_policy",
        object_id="1",
        object_label="MFA policy",
        changes=diff({"mode": before}, {"mode": mode}),
    )
    return policy
