"""EMAIL_URL (kernel.env.email) into Django's MAILERS, and branded account mails
(kernel.accounts.mail): the tenant's sender name, display name, colour and logo."""

import subprocess
import sys

import pytest

from kernel import env
from kernel.env import ConfigError
from tests.support.live import REPO


@pytest.mark.parametrize(
    ("url", "options"),
    [
        (
            "smtp://mailer:p%40ss%3Aword@smtp.example.com:587?tls=1",
            {
                "host": "smtp.example.com",
                "port": 587,
                "username": "mailer",
                "password": "p@ss:word",
                "use_tls": True,
                "use_ssl": False,
                "timeout": 10,
            },
        ),
        (
            "smtp+ssl://u:p@smtp.example.com?timeout=3",
            {
                "host": "smtp.example.com",
                "port": 465,
                "username": "u",
                "password": "p",
                "use_tls": False,
                "use_ssl": True,
                "timeout": 3,
            },
        ),
        (
            "smtp://relay.internal",
            {
                "host": "relay.internal",
                "port": 25,
                "username": "",
                "password": "",
                "use_tls": False,
                "use_ssl": False,
                "timeout": 10,
            },
        ),
    ],
)
def test_smtp_urls_become_a_mailer(monkeypatch, url, options):
    monkeypatch.setenv("EMAIL_URL", url)
    mailer = env.email()
    assert mailer == {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}


def test_development_backends(monkeypatch):
    monkeypatch.setenv("EMAIL_URL", "console://")
    assert env.email()["BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    monkeypatch.setenv("EMAIL_URL", "file:///var/tmp/gatehouse-mail")
    assert env.email() == {
        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "OPTIONS": {"file_path": "/var/tmp/gatehouse-mail"},
    }


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://smtp.example.com", "must look like smtp://"),
        ("smtp://", "must look like smtp://"),
        ("file://relative/dir", "absolute folder"),
        ("smtp+ssl://h:465?tls=1", "cannot ask for both"),
        ("smtp://h?timeout=soon", "timeout must be a number"),
    ],
)
def test_a_bad_email_url_stops_start_up_with_one_line(monkeypatch, url, words):
    monkeypatch.setenv("EMAIL_URL", url)
    with pytest.raises(ConfigError) as caught:
        env.email()
    message = str(caught.value)
    assert message.startswith("gatehouse: configuration error: EMAIL_URL") and words in message


def _settings_mailer(**environ) -> str:
    code = (
        "import json, django; from django.conf import settings; "
        "print(json.dumps(settings.MAILERS['default']))"
    )
    base = {
        "DJANGO_SETTINGS_MODULE": "gatehouse.settings.production",
        "SECRET_KEY": "x" * 20 + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
        "DATABASE_URL": "postgres://u@127.0.0.1:5432/db",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "GATEHOUSE_BASE_DOMAIN": "auth.example.com",
        "GATEHOUSE_KEY_ENCRYPTION_KEY": "ZGV2LW9ubHktaW5zZWN1cmUta2V5LWVuY3J5cHRpb24=",
        "PYTHONPATH": f"{REPO}:{REPO / 'platform'}",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, **environ},
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_settings_take_email_url_and_still_honour_the_older_variables():
    with_url = _settings_mailer(EMAIL_URL="smtp+ssl://m:pw@smtp.example.com:465")
    assert '"use_ssl": true' in with_url and '"host": "smtp.example.com"' in with_url
    older = _settings_mailer(EMAIL_HOST="mx.example.com", EMAIL_PORT="2525", EMAIL_USE_TLS="1")
    assert '"host": "mx.example.com"' in older and '"port": 2525' in older
    assert '"use_tls": true' in older


def test_development_writes_mail_to_a_folder():
    code = "from django.conf import settings; print(settings.MAILERS['default'])"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={
            "DJANGO_SETTINGS_MODULE": "gatehouse.settings.dev",
            "PYTHONPATH": f"{REPO}:{REPO / 'platform'}",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "filebased.EmailBackend" in result.stdout and "/.run/mail" in result.stdout


@pytest.mark.django_db
def test_mails_wear_the_tenants_sender_name_and_branding(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    from kernel.accounts.mail import MailSite
    from kernel.accounts.models import AccountPolicy
    from kernel.accounts.services import email_verification_send
    from tests.support.factories import make_user

    user = make_user(tenant_a)
    site = MailSite(
        origin=tenant_a.issuer,
        name="Alpha Corp",
        display_name="Alpha Sign-in",
        colour="#aa3300",
        logo_url=f"{tenant_a.issuer}/branding/logo?v=abc",
    )
    with tenant_a.context():
        AccountPolicy.objects.update_or_create(
            pk=AccountPolicy.load().pk, defaults={"email_sender_name": "Alpha Security Team"}
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert email_verification_send(user=user, site=site)
    (mail,) = mailoutbox
    assert mail.from_email.startswith('"Alpha Security Team" <') or mail.from_email.startswith(
        "Alpha Security Team <"
    )
    assert "Alpha Sign-in" in mail.subject and "Alpha Sign-in" in mail.body
    html, media = mail.alternatives[0]
    assert media == "text/html"
    assert "#aa3300" in html and f"{tenant_a.issuer}/branding/logo?v=abc" in html
    assert f"{tenant_a.issuer}/account/verify/" in html and "<script" not in html


@pytest.mark.django_db
def test_without_a_sender_name_the_display_name_signs_and_no_header_can_be_injected(
    tenant_b, mailoutbox, django_capture_on_commit_callbacks
):
    from kernel.accounts.mail import MailSite
    from kernel.accounts.services import account_policy_update, email_verification_send
    from tests.support.factories import make_user

    user = make_user(tenant_b)
    with tenant_b.context():
        account_policy_update(
            email_sender_name="Bravo\r\nBcc: victim@x.test", email_verification_required=False
        )
        with django_capture_on_commit_callbacks(execute=True):
            email_verification_send(user=user, site=MailSite(origin=tenant_b.issuer, name="Bravo"))
    (mail,) = mailoutbox
    assert "\n" not in mail.from_email and "\r" not in mail.from_email
    assert mail.bcc == [] and "victim" not in str(mail.message()["Bcc"] or "")


def test_make_run_prints_where_mail_goes(settings):
    from gatehouse.management.commands.run_platform import _mail_destination

    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": "/srv/dev-mail"},
        }
    }
    assert _mail_destination() == "files in /srv/dev-mail"
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
    assert _mail_destination() == "printed by the web process"


@pytest.mark.django_db
def test_a_colour_that_is_not_hex_never_reaches_the_mails_css(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    from kernel.accounts.mail import MailSite
    from kernel.accounts.services import email_verification_send
    from tests.support.factories import make_user

    user = make_user(tenant_a)
    site = MailSite(origin=tenant_a.issuer, name="Alpha", colour="red;background:url(x)")
    with tenant_a.context(), django_capture_on_commit_callbacks(execute=True):
        email_verification_send(user=user, site=site)
    html = mailoutbox[0].alternatives[0][0]
    assert "url(x)" not in html and "#1e66f5" in html
    assert "<title>Confirm your email address at Alpha</title>" in html
