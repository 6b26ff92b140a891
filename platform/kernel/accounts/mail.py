"""Mail to a tenant's users, in the tenant's branding (templates/mail/).

The layers above describe the site a mail comes from (``MailSite``: its origin, names,
colour and logo), since the kernel cannot read the branding itself. Every mail is a text
part and an HTML part rendered from ``templates/mail/<name>.txt`` / ``.html``, sent from
``"<sender name>" <DEFAULT_FROM_EMAIL>`` once the transaction that asked for it commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

from kernel.accounts.models import AccountPolicy


@dataclass(frozen=True)
class MailSite:
    """Where a mail's links point and how it looks: ``origin`` is the tenant's issuer
    (``https://acme.auth.example.com``), ``name`` the tenant's name; the branding's
    ``display_name``, ``colour`` (``#rrggbb``, already checked) and absolute ``logo_url``
    may be empty."""

    origin: str
    name: str = ""
    display_name: str = ""
    colour: str = ""
    logo_url: str = ""

    @property
    def title(self) -> str:
        return self.display_name or self.name or self.origin


#: The colour goes into inline CSS: ``#rrggbb`` only, whatever the caller passed.
_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}\Z")


def _one_line(value: str) -> str:
    return " ".join((value or "").split())[:100]


def sender(site: MailSite) -> str:
    """The From header: the tenant's sender name (console setting), else its title, with
    the platform's address (``DEFAULT_FROM_EMAIL``)."""
    name = AccountPolicy.load().email_sender_name or site.title
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    return formataddr((_one_line(name), address))


def send_branded(*, template: str, to: str, subject: str, site: MailSite, context: dict) -> None:
    """Render ``mail/<template>`` (text and HTML) with ``site`` and ``context`` and send it
    to ``to`` after the current transaction commits (nothing is sent if it rolls back)."""
    if site.colour and not _HEX_COLOUR.match(site.colour):
        site = replace(site, colour="")
    subject = _one_line(subject)
    context = {**context, "site": site, "subject": subject}
    text = render_to_string(f"mail/{template}.txt", context)
    html = render_to_string(f"mail/{template}.html", context)
    message = EmailMultiAlternatives(subject, text, sender(site), [to])
    message.attach_alternative(html, "text/html")
    transaction.on_commit(message.send)
