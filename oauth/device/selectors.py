"""Reads of device authorizations (RFC 8628 §3.2, §3.3, §3.4), by digest only."""

from __future__ import annotations

from kernel import credentials
from oauth.device import codes
from oauth.models import DeviceAuthorization


def device_authorization_by_device_code(value: str) -> DeviceAuthorization | None:
    """The device authorization of this device code (§3.4), with its client and user."""
    return (
        DeviceAuthorization.objects.select_related("client", "user")
        .filter(device_code_digest=credentials.digest(value))
        .first()
    )


def device_authorization_by_user_code(code: str) -> DeviceAuthorization | None:
    """The device authorization of this user code (§3.3), ``code`` in its normal form
    (``codes.normalise``)."""
    return (
        DeviceAuthorization.objects.select_related("client")
        .filter(user_code_digest=codes.digest(code))
        .first()
    )


def device_authorization_by_id(pk: int) -> DeviceAuthorization | None:
    return DeviceAuthorization.objects.select_related("client").filter(pk=pk).first()
