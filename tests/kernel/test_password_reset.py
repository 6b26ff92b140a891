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
