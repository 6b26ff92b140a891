"""What a TOTP enrolment page shows (RFC 6238, the ``otpauth://`` key URI): the secret
offered, kept sealed in the session until a code from the app confirms it, as a QR code and
as text. One place for the tenant users' page (``oauth.mfa.views``) and the operators'
(``tenants.console.views.access``)."""

from __future__ import annotations

import segno
from django.utils.safestring import mark_safe

from oauth.mfa import services


def totp_offer(session, key: str, *, account: str, issuer: str, renew: bool) -> dict:
    """The secret under ``key`` in ``session`` (a new one when there is none or ``renew``),
    as ``qr_svg`` (an inline SVG, safe to render) and ``secret`` (in groups of four)."""
    sealed = session.get(key)
    if not sealed or renew:
        sealed = services.seal_secret(services.totp_new_secret())
        session[key] = sealed
    secret = services.unseal_secret(sealed)
    uri = services.totp_provisioning_uri(secret=secret, account=account, issuer=issuer)
    return {
        "qr_svg": mark_safe(segno.make(uri, error="m").svg_inline(scale=4, border=2)),
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    }
