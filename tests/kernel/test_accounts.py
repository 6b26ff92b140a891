"""kernel.accounts services: the per-user session index, and writes that end sessions."""

import pytest

from tests.support.factories import make_user, signed_in
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db


def test_sign_in_indexes_the_session_and_sign_out_drops_it(tenant_a):
    from kernel.accounts import selectors
    from kernel.accounts.models import UserSession

    user = make_user(tenant_a)
    browser = tenant_a.client(HTTP_USER_AGENT="Tester/1.0")
    login = browser.post("/oauth/login", {"username": user.username, "password": user.raw_password})
    assert login.status_code == 302
    with tenant_a.context():
        (row,) = UserSession.objects.filter(user_id=user.pk)
        assert row.user_agent == "Tester/1.0" and row.ip
        assert row.session_key == browser.session.session_key
        assert [s.pk for s in selectors.user_sessions(user=user)] == [row.pk]
    browser.logout()
    with tenant_a.context():
        assert not UserSession.objects.filter(user_id=user.pk).exists()


def test_an_expired_session_is_not_listed(tenant_a):
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from kernel.accounts import selectors

    user = make_user(tenant_a)
    browser = signed_in(tenant_a, user)
    with tenant_a.context():
        assert len(selectors.user_sessions(user=user)) == 1
        Session.objects.filter(session_key=browser.session.session_key).update(
            expire_date=timezone.now() - timedelta(seconds=1)
        )
        assert selectors.user_sessions(user=user) == []


def test_disabling_and_new_passwords_end_every_session(tenant_a):
    from django.contrib.sessions.models import Session

    from kernel.accounts.models import UserSession
    from kernel.accounts.services import UserError, user_set_active, user_set_password
    from kernel.accounts.signals import password_replaced

    user = make_user(tenant_a)
    first, second = signed_in(tenant_a, user), signed_in(tenant_a, user)
    keys = [first.session.session_key, second.session.session_key]
    with tenant_a.context():
        user_set_active(user=user, active=False)
        assert not Session.objects.filter(session_key__in=keys).exists()
        assert not UserSession.objects.filter(user_id=user.pk).exists()
        user_set_active(user=user, active=True)

    third = signed_in(tenant_a, user)
    sent = []
    password_replaced.connect(lambda sender, user, **kw: sent.append(user.pk), weak=False,
                              dispatch_uid="test-accounts")  # fmt: skip
    try:
        with tenant_a.context():
            with pytest.raises(UserError, match="too common|too short"):
                user_set_password(user=user, password="password")
            assert sent == []
            user_set_password(user=user, password=remember_secret("A-much-better-pw-9"))
            assert not Session.objects.filter(session_key=third.session.session_key).exists()
    finally:
        password_replaced.disconnect(dispatch_uid="test-accounts")
    assert sent == [user.pk]


def test_user_update_validates_the_email_and_records_only_changes(tenant_a):
    from kernel.accounts.services import UserError, user_update
    from kernel.audit.models import AuditEvent

    user = make_user(tenant_a)
    fields = dict(first_name="", last_name="", email_verified=False, is_staff=False)
    with tenant_a.context():
        with pytest.raises(UserError) as bad:
            user_update(user=user, email="nope", **fields)
        assert bad.value.field == "email"
        user_update(user=user, email=user.email, **fields)
        assert not AuditEvent.objects.filter(action="user.updated", object_id=user.pk).exists()
        user_update(user=user, email="new@x.test", **fields)
        (event,) = AuditEvent.objects.filter(action="user.updated", object_id=user.pk)
        assert list(event.changes) == ["email"]


def test_a_hash_made_ahead_is_stored_and_the_password_still_judged(tenant_a):
    """Tenant provisioning hashes the admin's password in a thread while the schema is
    copied (``user_create(password_hash=...)``): the stored hash verifies the password, and
    the validators still judge the password itself."""
    from django.contrib.auth.hashers import make_password

    from kernel.accounts.services import UserError, user_create

    password = remember_secret("Ahead-of-time-pw-93!")
    with tenant_a.context():
        user = user_create(
            username="hashed-ahead", password=password, password_hash=make_password(password)
        )
        assert user.check_password(password) and not user.check_password(password + "x")
        with pytest.raises(UserError, match="password rejected"):
            user_create(username="hashed-weak", password="123", password_hash=make_password("123"))
