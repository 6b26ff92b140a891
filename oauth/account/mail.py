"""The ``MailSite`` of the request's tenant: its issuer and branding, for account mails."""

from __future__ import annotations

from django.urls import reverse

from kernel.accounts.mail import MailSite
from oauth import selectors


def mail_site(request) -> MailSite:
    """Links in mails point at the tenant's issuer (never the raw Host header), and the mail
    wears the tenant's branding: display name, primary colour and logo."""
    origin = selectors.issuer_for_request(request)
    brand = selectors.branding()
    logo = (
        f"{origin}{reverse('branding-logo')}?v={brand.logo_version}" if brand.logo_version else ""
    )
    return MailSite(
        origin=origin,
        name=request.tenant.name,
        display_name=brand.display_name,
        colour=brand.primary_colour,
        logo_url=logo,
    )
