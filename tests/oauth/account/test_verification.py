"""Email verification: a single-use, expiring link (digest in the tenant's schema) sent on
user creation and on email change; a per-tenant policy that keeps unverified users from
signing in, with a "send again" button; walls between tenants."""

import json
from datetime import timedelta

import pytest

from tests.oauth.console.test_console import _staff_client
from tests.support.accounts import VERIFY_LINK, link_token
from tests.support.factories import make_user, signed_in
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db


def _user_row(tenant, user):
    from kernel.accounts.models import User

    with tenant.context():
        return User.objects.get(pk=user.pk)


def _create_in_console(tenant, capture, username):
    password = remember_secret(f"{username}-Pw-123456")
    with capture(execute=True):
        answer = _staff_client(tenant).post(
            "/console/users/",
            {"username": username, "password": password, "email": f"{username}@x.test"},
        )
    assert answer.status_code == 302, answer.content
    from kernel.accounts.models import User

    with tenant.context():
        user = User.objects.get(username=username)
    user.raw_password = password
    return user


def _verify(tenant, token, web=None):
    web = web or tenant.client()
    start = web.get(f"/account/verify/{token}/")
    return web, start


def _set_policy(tenant, required: bool):
    from kernel.accounts.services import account_policy_update

    with tenant.context():
        account_policy_update(email_sender_name="", email_verification_required=required)


def test_a_user_created_in_the_console_gets_a_link_that_verifies_once(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    from kernel.audit.models import AuditEvent

    user = _create_in_console(tenant_a, django_capture_on_commit_callbacks, "vera")
    (mail,) = mailoutbox
    assert mail.to == ["vera@x.test"] and "Confirm your email address" in mail.subject
    token = link_token(mail, VERIFY_LINK)
    assert VERIFY_LINK.search(mail.body).group(1) == tenant_a.issuer
    with tenant_a.context():
        from kernel.accounts.models import EmailVerification

        (row,) = EmailVerification.objects.filter(user_id=user.pk)
        assert row.token_digest != token and len(row.token_digest) == 64
    web, start = _verify(tenant_a, token)
    assert start.status_code == 302 and token not in start["Location"]
    confirm = web.get(start["Location"])
    assert confirm.status_code == 200 and b"vera@x.test" in confirm.content
    assert not _user_row(tenant_a, user).email_verified  # opening the link verifies nothing
    done = web.post(start["Location"])
    assert done.status_code == 302 and done["Location"] == "/account/verify/done/"
    assert b"Email address confirmed" in web.get(done["Location"]).content
    assert _user_row(tenant_a, user).email_verified
    with tenant_a.context():
        events = AuditEvent.objects.filter(object_id=str(user.pk))
        actions = set(events.values_list("action", flat=True))
        assert {"user.email_verification_sent", "user.email_verified"} <= actions
        assert token not in json.dumps([e.changes for e in events])
    again = tenant_a.client().get(f"/account/verify/{token}/", follow=True)
    assert again.status_code == 400 and b"Link expired" in again.content
    # The confirm page, reposted after use, verifies nothing more and says so.
    assert web.post(start["Location"]).status_code == 400


def test_a_link_is_worthless_at_another_tenant_after_expiry_and_for_an_old_address(
    tenant_a, tenant_b, mailoutbox, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from kernel.accounts.models import EmailVerification, User

    user = _create_in_console(tenant_a, django_capture_on_commit_callbacks, "walter")
    token = link_token(mailoutbox[0], VERIFY_LINK)
    at_b = tenant_b.client().get(f"/account/verify/{token}/", follow=True)
    assert at_b.status_code == 400
    with tenant_a.context():
        User.objects.filter(pk=user.pk).update(email="walter.new@x.test")
    assert tenant_a.client().get(f"/account/verify/{token}/", follow=True).status_code == 400
    with tenant_a.context():
        User.objects.filter(pk=user.pk).update(email="walter@x.test")
        EmailVerification.objects.filter(user_id=user.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    assert tenant_a.client().get(f"/account/verify/{token}/", follow=True).status_code == 400
    assert not _user_row(tenant_a, user).email_verified
    for odd in ("x", "a" * 300):
        assert tenant_a.client().get(f"/account/verify/{odd}/", follow=True).status_code == 400
    assert tenant_a.client().get("/account/verify/").status_code == 400


def test_an_admin_changing_an_address_sends_a_link_to_the_new_one(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    user = make_user(tenant_a)
    admin = _staff_client(tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin.post(
            f"/console/users/{user.pk}/edit/",
            {"first_name": "", "last_name": "", "email": "moved@x.test"},
        )
    assert answer.status_code == 302, answer.content
    assert [m.to for m in mailoutbox] == [["moved@x.test"]]


def test_the_console_sets_the_sender_name_and_the_verification_policy(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    from kernel.accounts.models import AccountPolicy, User
    from kernel.audit.models import AuditEvent

    admin = _staff_client(tenant_a)
    page = admin.get("/console/settings/")
    assert b"Accounts and email" in page.content and b"Sender name of mails" in page.content
    with tenant_a.context():
        User.objects.filter(username=tenant_a.admin_username).update(email_verified=False)
    refused = admin.post(
        "/console/settings/accounts/",
        {"email_sender_name": "Alpha IT", "email_verification_required": "on"},
    )
    assert refused.status_code == 400 and b"Confirm your own email address first" in refused.content
    with tenant_a.context():
        assert not AccountPolicy.load().email_verification_required
        User.objects.filter(username=tenant_a.admin_username).update(email_verified=True)
    saved = admin.post(
        "/console/settings/accounts/",
        {"email_sender_name": "Alpha IT", "email_verification_required": "on"},
    )
    assert saved.status_code == 302 and saved["Location"] == "/console/settings/"
    with tenant_a.context():
        policy = AccountPolicy.load()
        assert (policy.email_sender_name, policy.email_verification_required) == ("Alpha IT", True)
        (event,) = AuditEvent.objects.filter(action="settings.accounts_updated")
        assert event.changes["email_verification_required"] == {"old": False, "new": True}
    user = make_user(tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(f"/console/users/{user.pk}/reset/")
    assert "Alpha IT" in mailoutbox[0].from_email
    # A non-admin, or another tenant's admin, changes nothing here.
    assert (
        signed_in(tenant_a, make_user(tenant_a))
        .post("/console/settings/accounts/", {"email_sender_name": "Hacked"})
        .status_code
        == 403
    )


def test_the_policy_is_per_tenant(tenant_a, tenant_b):
    _set_policy(tenant_a, True)
    unverified_b = make_user(tenant_b)
    web = tenant_b.client()
    answer = web.post(
        "/oauth/login", {"username": unverified_b.username, "password": unverified_b.raw_password}
    )
    assert answer.status_code == 302  # bravo does not require verification


def test_when_required_an_unverified_user_is_stopped_and_can_ask_again(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    _set_policy(tenant_a, True)
    user = make_user(tenant_a)
    web = tenant_a.client()
    stopped = web.post(
        "/oauth/login",
        {"username": user.username, "password": user.raw_password, "next": "/account/"},
    )
    assert stopped.status_code == 403
    assert b"Confirm your email address first" in stopped.content
    assert b"Send the link again" in stopped.content
    assert web.get("/account/").status_code == 302  # not signed in
    # A wrong password says nothing about verification.
    wrong = tenant_a.client().post("/oauth/login", {"username": user.username, "password": "nope"})
    assert wrong.status_code == 400 and b"Confirm your email" not in wrong.content
    with django_capture_on_commit_callbacks(execute=True):
        sent = web.post("/account/verify/resend/")
    assert sent.status_code == 302 and sent["Location"] == "/account/verify/sent/"
    assert b"Check your mail" in web.get(sent["Location"]).content
    (mail,) = mailoutbox
    assert mail.to == [user.email]
    token = link_token(mail, VERIFY_LINK)
    # Without the sign-in attempt's session, "send again" sends nothing (and says the same).
    with django_capture_on_commit_callbacks(execute=True):
        assert tenant_a.client().post("/account/verify/resend/").status_code == 302
    assert len(mailoutbox) == 1
    browser, start = _verify(tenant_a, token)
    browser.post(start["Location"])
    signed = web.post("/oauth/login", {"username": user.username, "password": user.raw_password})
    assert signed.status_code == 302 and web.get("/account/").status_code == 200


def test_send_again_is_throttled(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.GATEHOUSE = {
        **settings.GATEHOUSE,
        "ACCOUNT_MAIL_THROTTLE": {"IP_REQUESTS": 50, "ADDRESS_REQUESTS": 2, "WINDOW_SECONDS": 600},
    }
    _set_policy(tenant_a, True)
    user = make_user(tenant_a)
    web = tenant_a.client()
    web.post("/oauth/login", {"username": user.username, "password": user.raw_password})
    answers = []
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(web.post("/account/verify/resend/").status_code)
    assert answers == [302, 302, 429]
    assert len(mailoutbox) == 1  # and a second within a minute was not sent either
    remember_secret(link_token(mailoutbox[0], VERIFY_LINK))


def test_verified_state_reaches_userinfo(tenant_a, mailoutbox, django_capture_on_commit_callbacks):
    from tests.support.factories import make_web_client, user_tokens

    user = _create_in_console(tenant_a, django_capture_on_commit_callbacks, "ursula")
    client = make_web_client(tenant_a, scopes=["openid", "email"])
    before = user_tokens(tenant_a, client, user=user, scope="openid email")
    info = tenant_a.client().get(
        "/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {before['access_token']}"
    )
    assert info.json()["email_verified"] is False
    browser, start = _verify(tenant_a, link_token(mailoutbox[0], VERIFY_LINK))
    browser.post(start["Location"])
    info = tenant_a.client().get(
        "/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {before['access_token']}"
    )
    assert info.json()["email_verified"] is True


def test_a_signed_in_user_can_ask_for_a_link_from_the_account_page(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    user = make_user(tenant_a)
    web = signed_in(tenant_a, user)
    assert b"Send a confirmation link" in web.get("/account/").content
    with django_capture_on_commit_callbacks(execute=True):
        asked = web.post("/account/verify/mine/")
        again = web.post("/account/verify/mine/")
    assert asked.status_code == again.status_code == 302
    assert [m.to for m in mailoutbox] == [[user.email]]  # the repeat within a minute: none
    browser, start = _verify(tenant_a, link_token(mailoutbox[0], VERIFY_LINK))
    browser.post(start["Location"])
    page = web.get("/account/")
    assert b"Send a confirmation link" not in page.content and b"confirmed" in page.content
    assert tenant_a.client().post("/account/verify/mine/").status_code == 302  # to sign-in
