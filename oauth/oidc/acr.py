"""Authentication methods (RFC 8176 ``amr``) and context classes (OIDC Core §2 ``acr``).

The ``amr`` values this server records for a sign-in:

``pwd``
    the password (RFC 8176 §2);
``otp``
    a one-time code: a TOTP code (RFC 6238) or a single-use recovery code;
``hwk`` / ``swk``
    a passkey (proof of possession of a key, WebAuthn): ``swk`` when the authenticator says
    the key is backed up (a synced, software-held passkey), ``hwk`` when it is bound to one
    device;
``mfa``
    more than one factor: a password and a second factor, or a passkey whose authenticator
    verified the user (PIN or biometric, the WebAuthn ``UV`` flag) (RFC 8176 §2).

Two ``acr`` values (OIDC Core §2: the value is the authorization server's to define), listed
in discovery as ``acr_values_supported``:

``urn:gatehouse:acr:mfa``
    the sign-in used more than one factor (``mfa`` is among its ``amr``);
``urn:gatehouse:acr:pwd``
    a single factor (a password, or a sign-in link).

``acr_values=urn:gatehouse:acr:mfa`` in an authorization request makes a session without a
second factor step up before a code is issued (OIDC Core §3.1.2.1).
"""

from __future__ import annotations

PWD = "pwd"
OTP = "otp"
HWK = "hwk"
SWK = "swk"
MFA = "mfa"

ACR_MFA = "urn:gatehouse:acr:mfa"
ACR_SINGLE_FACTOR = "urn:gatehouse:acr:pwd"
#: Discovery §3 ``acr_values_supported``, the strongest first.
ACR_VALUES_SUPPORTED = (ACR_MFA, ACR_SINGLE_FACTOR)


def acr_for(amr: list[str]) -> str:
    """The ``acr`` of a sign-in with these ``amr`` values."""
    return ACR_MFA if MFA in amr else ACR_SINGLE_FACTOR


def requests_mfa(acr_values: str | None) -> bool:
    """OIDC Core §3.1.2.1: whether ``acr_values`` (space-separated, in order of preference)
    asks for a multi-factor sign-in. Only the first value this server knows counts; a list
    that names none of ours asks for nothing (voluntary claim, Core §5.5.1.1)."""
    for value in (acr_values or "").split():
        if value in ACR_VALUES_SUPPORTED:
            return value == ACR_MFA
    return False
