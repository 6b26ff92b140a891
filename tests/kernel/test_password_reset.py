"""Password reset by email: sent from the console, a single-use and short-lived link stored
as a digest in the tenant's schema, a page that sets the password through the validators,
after which every session of the user ends and their refresh tokens are revoked."""

import json
import re
from datetime import timedelta

import pytest

from tests.oauth.console.test_console import _staff_client
from tests.support.factories import (
    active,
    make_user,
    make_web_client,
    refresh,
    signed_in,
    user_tokens,
)
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

_LINK = re.compile(r"(https://[^/\s]+)/account/reset/([A-Za-z0-9_-]+)/")


def _send_from_console(tenant, user, capture):
    admin = _staff_client(tenant)
    with capture(execute=True):
        response = admin.post(f"/console/users/{user.pk}/reset/")
    assert response.status_code == 302
    return admin


def _token_from(mail) -> str:
    found = _LINK.search(mail.body)
    assert found, mail.body
    return remember_secret(found.group(2))


def test_the_console_emails_a_link_that_sets_a_new_password_once(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    from kernel.audit.models import AuditEvent

    web = make_web_client(tenant_a)
    user = make_user(tenant_a)
    tokens = user_tokens(tenant_a, web, user=user)
    elsewhere = signed_in(tenant_a, user)
    admin = _send_from_console(tenant_a, user, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(f"/console/users/{user.pk}/reset/")  # a repeat within a minute: no mail
    assert len(mailoutbox) == 1
    (mail,) = mailoutbox
    assert mail.to == [user.email] and "Alpha Corp" in mail.subject
    assert _LINK.search(mail.body).group(1) == tenant_a.issuer
    token = _token_from(mail)
    with tenant_a.context():
        (sent,) = AuditEvent.objects.filter(action="user.password_reset_sent", object_id=user.pk)
        assert token not in json.dumps(sent.changes)
        from kernel.accounts.models import PasswordReset

        assert not PasswordReset.objects.filter(token_digest=token).exists()

    browser = tenant_a.client()
    start = browser.get(f"/account/reset/{token}/")
    assert start.status_code == 302 and token not in start["Location"]
    form = browser.get(start["Location"])
    assert form.status_code == 200 and b"at least 10 characters" in form.content
    weak = browser.post(start["Location"], {"password": "short", "confirm": "short"})
    assert weak.status_code == 400 and b"too short" in weak.content
    new = remember_secret("Reset-to-this-pw-31")
    done = browser.post(start["Location"], {"password": new, "confirm": new})
    assert done.status_code == 302 and done["Location"] == "/account/reset/done/"
    assert b"Password changed" in browser.get(done["Location"]).content

    with tenant_a.context():
        from kernel.accounts.models import User

        assert User.objects.get(pk=user.pk).check_password(new)
        (event,) = AuditEvent.objects.filter(action="user.password_reset", object_id=user.pk)
        assert event.actor_label == "anonymous" and new not in json.dumps(event.changes)
    assert elsewhere.get("/console/").status_code == 302  # that session ended
    assert refresh(tenant_a, web, tokens["refresh_token"]).status_code == 400
    assert not active(tenant_a, tokens["access_token"])
    again = tenant_a.client().get(f"/account/reset/{token}/", follow=True)
    assert again.status_code == 400 and b"Link expired" in again.content


def test_a_link_works_only_at_its_tenant_and_only_for_an_hour(
    tenant_a, tenant_b, mailoutbox, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from kernel.accounts.models import PasswordReset

    user = make_user(tenant_a)
    _send_from_console(tenant_a, user, django_capture_on_commit_callbacks)
    token = _token_from(mailoutbox[0])
    assert tenant_b.client().get(f"/account/reset/{token}/", follow=True).status_code == 400
    with tenant_a.context():
        PasswordReset.objects.filter(user_id=user.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    assert tenant_a.client().get(f"/account/reset/{token}/", follow=True).status_code == 400
    for odd in ("x", "%00", "a" * 500):
        answer = tenant_a.client().get(f"/account/reset/{odd}/", follow=True)
        assert answer.status_code in (400, 404)
    assert tenant_a.client().get("/account/reset/new/").status_code == 400


def test_the_reset_form_is_csrf_protected(tenant_a, mailoutbox, django_capture_on_commit_callbacks):
    user = make_user(tenant_a)
    _send_from_console(tenant_a, user, django_capture_on_commit_callbacks)
    token = _token_from(mailoutbox[0])
    browser = tenant_a.client(enforce_csrf_checks=True)
    start = browser.get(f"/account/reset/{token}/")
    new = remember_secret("Csrf-checked-pw-55")
    assert browser.post(start["Location"], {"password": new, "confirm": new}).status_code == 403
    with tenant_a.context():
        from kernel.accounts.models import User

        assert User.objects.get(pk=user.pk).check_password(user.raw_password)


def test_the_console_button_is_walled_and_admins_only(tenant_a, tenant_b, mailoutbox):
    theirs = make_user(tenant_b)
    assert _staff_client(tenant_a).post(f"/console/users/{theirs.pk}/reset/").status_code == 404
    mine = make_user(tenant_a)
    plain = signed_in(tenant_a, make_user(tenant_a))
    assert plain.post(f"/console/users/{mine.pk}/reset/").status_code == 403
    assert mailoutbox == []


def test_asking_by_email_answers_the_same_whether_or_not_the_account_exists(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    from kernel.accounts.services import password_reset_send_for_email

    user = make_user(tenant_a)
    with tenant_a.context(), django_capture_on_commit_callbacks(execute=True):
        assert password_reset_send_for_email(email="nobody@x.test", site="https://h") is None
        assert password_reset_send_for_email(email="\x00", site="https://h") is None
        assert password_reset_send_for_email(email=user.email.upper(), site="https://h") is None
    assert [m.to for m in mailoutbox] == [[user.email]]
    remember_secret(_token_from_any(mailoutbox[0]))


def _token_from_any(mail) -> str:
    return re.search(r"/account/reset/([A-Za-z0-9_-]+)/", mail.body).group(1)


# --- "Forgot password?" from the login page (oauth.account.views.forgot) ----------------------


@pytest.fixture
def fresh_mail_counters():
    from tests.support.accounts import clear_account_mail_counters

    clear_account_mail_counters()
    yield
    clear_account_mail_counters()


def _forgot(tenant, identifier, capture, **extra):
    web = tenant.client(**extra)
    page = web.get("/account/forgot/")
    assert page.status_code == 200
    with capture(execute=True):
        return web.post("/account/forgot/", {"identifier": identifier})


def test_the_login_page_links_to_the_forgot_password_page(tenant_a):
    login = tenant_a.client().get("/oauth/login")
    assert b'href="/account/forgot/"' in login.content and b"Forgot password?" in login.content
    page = tenant_a.client().get("/account/forgot/")
    assert page.status_code == 200 and b"Email address or user name" in page.content
    assert b'name="csrfmiddlewaretoken"' in page.content


def test_forgot_answers_the_same_whether_or_not_the_account_exists(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks, fresh_mail_counters
):
    from kernel.audit.models import AuditEvent

    user = make_user(tenant_a)
    capture = django_capture_on_commit_callbacks
    known = _forgot(tenant_a, user.email.upper(), capture)
    unknown = _forgot(tenant_a, "nobody-here@x.test", capture)
    by_name = _forgot(tenant_a, user.username, capture, REMOTE_ADDR="10.9.9.9")
    for answer in (known, unknown, by_name):
        assert answer.status_code == 302 and answer["Location"] == "/account/forgot/sent/"
    sent = tenant_a.client().get("/account/forgot/sent/")
    assert b"If an account matches" in sent.content
    # The second request for the same user within a minute sends nothing more.
    assert [m.to for m in mailoutbox] == [[user.email]]
    mail = mailoutbox[0]
    assert "Alpha Corp" in mail.subject and mail.alternatives[0][1] == "text/html"
    token = _token_from(mail)
    with tenant_a.context():
        events = AuditEvent.objects.filter(action="user.password_reset_requested")
        assert [e.object_id for e in events] == [str(user.pk)]
        assert token not in json.dumps([e.changes for e in events])
    # The link from the forgot page works like the admin's.
    browser = tenant_a.client()
    start = browser.get(f"/account/reset/{token}/")
    new = remember_secret("Forgot-then-reset-88")
    done = browser.post(start["Location"], {"password": new, "confirm": new})
    assert done.status_code == 302
    with tenant_a.context():
        from kernel.accounts.models import User

        assert User.objects.get(pk=user.pk).check_password(new)
        assert AuditEvent.objects.filter(action="user.password_reset", object_id=user.pk).exists()


def test_forgot_is_throttled_per_address_and_per_ip(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks, fresh_mail_counters, settings
):
    settings.GATEHOUSE = {
        **settings.GATEHOUSE,
        "ACCOUNT_MAIL_THROTTLE": {"IP_REQUESTS": 4, "ADDRESS_REQUESTS": 2, "WINDOW_SECONDS": 600},
    }
    capture = django_capture_on_commit_callbacks
    user = make_user(tenant_a)
    # Per address, from many IPs: a third request for the same address is refused.
    for n in range(2):
        assert _forgot(tenant_a, user.email, capture, REMOTE_ADDR=f"10.0.0.{n}").status_code == 302
    third = _forgot(tenant_a, user.email, capture, REMOTE_ADDR="10.0.0.9")
    assert third.status_code == 429 and int(third["Retry-After"]) > 0
    assert b"Too many" in third.content
    # An unknown address is throttled the same way: the answer tells nothing.
    for n in range(2):
        _forgot(tenant_a, "ghost@x.test", capture, REMOTE_ADDR=f"10.1.0.{n}")
    assert _forgot(tenant_a, "ghost@x.test", capture, REMOTE_ADDR="10.1.0.9").status_code == 429
    # Per IP, over many addresses.
    answers = [
        _forgot(tenant_a, f"probe-{n}@x.test", capture, REMOTE_ADDR="10.2.0.1").status_code
        for n in range(5)
    ]
    assert answers == [302, 302, 302, 302, 429]
    assert len(mailoutbox) == 1  # the user got one mail, however often they were asked for


def test_forgot_at_another_tenant_mails_nobody(
    tenant_a, tenant_b, mailoutbox, django_capture_on_commit_callbacks, fresh_mail_counters
):
    user = make_user(tenant_a)
    answer = _forgot(tenant_b, user.email, django_capture_on_commit_callbacks)
    assert answer.status_code == 302
    assert mailoutbox == []


def test_the_forgot_form_is_csrf_protected(tenant_a, mailoutbox, fresh_mail_counters):
    user = make_user(tenant_a)
    web = tenant_a.client(enforce_csrf_checks=True)
    assert web.post("/account/forgot/", {"identifier": user.email}).status_code == 403
    assert mailoutbox == []


def test_a_reset_ends_the_users_sessions_and_refresh_tokens_but_not_others(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks, fresh_mail_counters
):
    web = make_web_client(tenant_a)
    user, other = make_user(tenant_a), make_user(tenant_a)
    mine, theirs = user_tokens(tenant_a, web, user=user), user_tokens(tenant_a, web, user=other)
    other_session = signed_in(tenant_a, other)
    _forgot(tenant_a, user.email, django_capture_on_commit_callbacks)
    token = _token_from(mailoutbox[0])
    browser = tenant_a.client()
    start = browser.get(f"/account/reset/{token}/")
    new = remember_secret("Ends-grants-pw-4242")
    assert browser.post(start["Location"], {"password": new, "confirm": new}).status_code == 302
    assert refresh(tenant_a, web, mine["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(tenant_a, web, theirs["refresh_token"]).status_code == 200
    assert other_session.get("/account/").status_code == 200
