"""The console's user pages: detail, edit, disable and enable, delete, set a password, end a
session, revoke a grant; each write audited with its actor and no secret, each page walled
in by tenant, CSRF-protected and safe against reloads and odd input."""

import json
import re
import uuid

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


def _events(tenant, action: str, object_id: str):
    from kernel.audit.models import AuditEvent

    with tenant.context():
        return list(AuditEvent.objects.filter(action=action, object_id=str(object_id)))


def _reload(tenant, user):
    from kernel.accounts.models import User

    with tenant.context():
        return User.objects.filter(pk=user.pk).first()


def _admin_pk(tenant):
    from kernel.accounts.models import User

    with tenant.context():
        return User.objects.get(username=tenant.admin_username).pk


def test_detail_shows_the_user_their_sessions_and_grants(tenant_a):
    user = make_user(tenant_a)
    web = make_web_client(tenant_a, name="Grant Viewer")
    user_tokens(tenant_a, web, user=user)  # signs in (a session) and consents
    admin = _staff_client(tenant_a)
    page = admin.get(f"/console/users/{user.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert user.username in body and str(user.pk) in body and "UTC" in body
    assert "Grant Viewer" in body and "api read" in body
    assert len(re.findall(r"/sessions/\d+/end/", body)) == 1
    assert user.raw_password not in body


def test_another_tenants_user_is_not_found(tenant_a, tenant_b):
    theirs = make_user(tenant_b)
    web_b = make_web_client(tenant_b)
    admin_a = _staff_client(tenant_a)
    base = f"/console/users/{theirs.pk}"
    for url in ("/", "/edit/", "/password/", "/delete/", "/sessions/1/end/"):
        assert admin_a.get(base + url).status_code == 404, url
    for url, data in (
        ("/edit/", {"email": "x@y.test", "is_staff": "on"}),
        ("/active/", {"active": "0"}),
        ("/password/", {"password": "Xy-long-enough-9", "confirm": "Xy-long-enough-9"}),
        ("/delete/", {}),
    ):
        assert admin_a.post(base + url, data).status_code == 404, url
    # A's own user, B's client: not found either.
    mine = make_user(tenant_a)
    grant = f"/console/users/{mine.pk}/grants/{web_b.client_id}/revoke/"
    assert admin_a.post(grant).status_code == 404
    still = _reload(tenant_b, theirs)
    assert still.is_active and not still.is_staff and still.check_password(theirs.raw_password)


def test_a_non_admin_gets_403_and_csrf_is_enforced(tenant_a):
    from kernel.accounts.models import User

    target = make_user(tenant_a)
    plain = signed_in(tenant_a, make_user(tenant_a))
    base = f"/console/users/{target.pk}"
    for url in ("/", "/edit/", "/password/", "/delete/"):
        assert plain.get(base + url).status_code == 403, url
    assert plain.post(base + "/active/", {"active": "0"}).status_code == 403

    strict = tenant_a.client(enforce_csrf_checks=True)
    with tenant_a.context():
        strict.force_login(User.objects.get(username=tenant_a.admin_username))
    for url, data in (
        ("/edit/", {"is_staff": "on"}),
        ("/active/", {"active": "0"}),
        ("/password/", {"password": "Xy-long-enough-9", "confirm": "Xy-long-enough-9"}),
        ("/delete/", {}),
    ):
        assert strict.post(base + url, data).status_code == 403, url
    assert _reload(tenant_a, target).is_active


def test_edit_changes_name_email_flags_with_an_audited_diff(tenant_a):
    user = make_user(tenant_a)
    admin = _staff_client(tenant_a)
    url = f"/console/users/{user.pk}/edit/"
    assert admin.get(url).status_code == 200
    bad = admin.post(url, {"email": "not an address"})
    assert bad.status_code == 400 and b"valid email" in bad.content
    data = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@alpha.test",
        "email_verified": "on",
        "is_staff": "on",
    }
    done = admin.post(url, data)
    assert done.status_code == 302 and done["Location"] == f"/console/users/{user.pk}/"
    again = admin.post(url, data)  # a repeated POST: no second change, no second row
    assert again.status_code == 302
    row = _reload(tenant_a, user)
    assert (row.first_name, row.last_name, row.email) == ("Ada", "Lovelace", "ada@alpha.test")
    assert row.email_verified and row.is_staff
    (event,) = _events(tenant_a, "user.updated", user.pk)
    assert event.actor_label == tenant_a.admin_username
    assert event.changes["is_staff"] == {"old": False, "new": True}
    assert event.changes["email"] == {"old": f"{user.username}@x.test", "new": "ada@alpha.test"}


def test_an_admin_cannot_demote_disable_or_delete_themselves(tenant_a):
    admin = _staff_client(tenant_a)
    me = _admin_pk(tenant_a)
    demote = admin.post(f"/console/users/{me}/edit/", {"email": "a@alpha.test"})
    assert demote.status_code == 400 and b"your own admin access" in demote.content
    admin.post(f"/console/users/{me}/active/", {"active": "0"})
    admin.post(f"/console/users/{me}/delete/")
    with tenant_a.context():
        from kernel.accounts.models import User

        row = User.objects.get(pk=me)
        assert row.is_active and row.is_staff


def test_disable_ends_sessions_and_tokens_enable_restores_sign_in(tenant_a):
    web = make_web_client(tenant_a)
    user = make_user(tenant_a)
    tokens = user_tokens(tenant_a, web, user=user)
    their_browser = signed_in(tenant_a, user)
    assert their_browser.get("/console/").status_code == 403  # signed in, not an admin
    admin = _staff_client(tenant_a)
    url = f"/console/users/{user.pk}/active/"
    assert admin.post(url, {"active": "0"}).status_code == 302
    admin.post(url, {"active": "0"})
    assert not _reload(tenant_a, user).is_active
    assert their_browser.get("/console/").status_code == 302  # signed out
    assert not active(tenant_a, tokens["access_token"])
    assert refresh(tenant_a, web, tokens["refresh_token"]).status_code == 400
    with tenant_a.context():
        from kernel.accounts.models import UserSession

        assert not UserSession.objects.filter(user_id=user.pk).exists()
    (event,) = _events(tenant_a, "user.disabled", user.pk)
    assert event.changes["sessions_ended"] == 2
    assert admin.post(url, {"active": "1"}).status_code == 302
    assert _reload(tenant_a, user).is_active
    assert len(_events(tenant_a, "user.enabled", user.pk)) == 1


def test_an_ended_session_signs_its_browser_out(tenant_a):
    from kernel.accounts.models import UserSession

    user = make_user(tenant_a)
    admin_user_browser = signed_in(tenant_a, user)
    assert admin_user_browser.get("/console/").status_code == 403
    with tenant_a.context():
        session = UserSession.objects.get(user_id=user.pk)
    admin = _staff_client(tenant_a)
    url = f"/console/users/{user.pk}/sessions/{session.pk}/end/"
    confirm = admin.get(url)
    assert confirm.status_code == 200 and b"End the session" in confirm.content
    with tenant_a.context():
        assert UserSession.objects.filter(pk=session.pk).exists()
    assert admin.post(url).status_code == 302
    assert admin.post(url).status_code == 404  # already ended
    from django.contrib.sessions.models import Session

    with tenant_a.context():
        assert not Session.objects.filter(session_key=session.session_key).exists()
    (event,) = _events(tenant_a, "user.session_ended", user.pk)
    assert session.session_key not in json.dumps(event.changes)
    assert admin_user_browser.get("/console/").status_code == 302  # signed out there
    assert admin.get(f"/console/users/{user.pk}/sessions/{2**70}/end/").status_code == 404


def test_set_password_shows_the_rules_first_and_ends_sessions_and_tokens(tenant_a):
    web = make_web_client(tenant_a)
    user = make_user(tenant_a)
    tokens = user_tokens(tenant_a, web, user=user)
    admin = _staff_client(tenant_a)
    url = f"/console/users/{user.pk}/password/"
    form = admin.get(url)
    assert b"at least 10 characters" in form.content
    weak = admin.post(url, {"password": "short", "confirm": "short"})
    assert weak.status_code == 400 and b"too short" in weak.content
    differ = admin.post(url, {"password": "Long-enough-pw-1", "confirm": "Long-enough-pw-2"})
    assert differ.status_code == 400 and b"differ" in differ.content
    new = remember_secret("Brand-new-pw-42!")
    assert admin.post(url, {"password": new, "confirm": new}).status_code == 302
    row = _reload(tenant_a, user)
    assert row.check_password(new) and not row.check_password(user.raw_password)
    assert refresh(tenant_a, web, tokens["refresh_token"]).status_code == 400
    assert not active(tenant_a, tokens["access_token"])
    (event,) = _events(tenant_a, "user.password_set", user.pk)
    assert new not in json.dumps(event.changes) and row.password not in json.dumps(event.changes)


def test_revoking_a_grant_ends_its_tokens_and_consent_at_once(tenant_a):
    from oauth.models import Consent

    web = make_web_client(tenant_a, name="Revocable")
    other = make_web_client(tenant_a, name="Kept")
    user = make_user(tenant_a)
    tokens = user_tokens(tenant_a, web, user=user)
    kept = user_tokens(tenant_a, other, user=user)
    admin = _staff_client(tenant_a)
    url = f"/console/users/{user.pk}/grants/{web.client_id}/revoke/"
    assert b"Revoke access" in admin.get(url).content
    assert active(tenant_a, tokens["access_token"])
    assert admin.post(url).status_code == 302
    assert not active(tenant_a, tokens["access_token"])
    assert refresh(tenant_a, web, tokens["refresh_token"]).status_code == 400
    assert active(tenant_a, kept["access_token"])
    with tenant_a.context():
        assert not Consent.objects.filter(user_id=user.pk, client_id=web.pk).exists()
        assert Consent.objects.filter(user_id=user.pk, client_id=other.pk).exists()
    (event,) = _events(tenant_a, "grant.revoked", f"{user.pk}:{web.client_id}")
    assert event.actor_label == tenant_a.admin_username
    assert event.changes["scope"] == "api read" and event.changes["families_revoked"] == 1
    assert tokens["refresh_token"] not in json.dumps(event.changes)
    admin.get(f"/console/users/{user.pk}/")  # shows the message once
    page = admin.get(f"/console/users/{user.pk}/").content.decode()
    assert "Revocable" not in page and "Kept" in page


def test_delete_asks_first_then_removes_the_user_and_their_tokens(tenant_a):
    web = make_web_client(tenant_a)
    user = make_user(tenant_a)
    tokens = user_tokens(tenant_a, web, user=user)
    admin = _staff_client(tenant_a)
    url = f"/console/users/{user.pk}/delete/"
    assert b"Delete the user" in admin.get(url).content
    assert _reload(tenant_a, user) is not None
    assert admin.post(url).status_code == 302
    assert admin.post(url).status_code == 404
    assert _reload(tenant_a, user) is None
    assert not active(tenant_a, tokens["access_token"])
    (event,) = _events(tenant_a, "user.deleted", user.pk)
    assert event.changes["username"] == {"old": user.username, "new": None}


def test_creating_a_user_is_audited_without_the_password(tenant_a):
    admin = _staff_client(tenant_a)
    password = remember_secret("Created-user-pw-77")
    listing = admin.get("/console/users/")
    assert b"at least 10 characters" in listing.content
    done = admin.post(
        "/console/users/", {"username": "dora", "email": "dora@alpha.test", "password": password}
    )
    assert done.status_code == 302
    again = admin.post(
        "/console/users/", {"username": "dora", "email": "dora@alpha.test", "password": password}
    )
    assert again.status_code == 400 and b"already exists" in again.content
    with tenant_a.context():
        from kernel.accounts.models import User

        dora = User.objects.get(username="dora")
    (event,) = _events(tenant_a, "user.created", dora.pk)
    assert event.actor_label == tenant_a.admin_username
    assert password not in json.dumps(event.changes) and "password" not in event.changes


def test_user_pages_answer_odd_input_without_a_500(tenant_a):
    user = make_user(tenant_a)
    admin = _staff_client(tenant_a)
    assert admin.get(f"/console/users/{uuid.uuid4()}/").status_code == 404
    assert admin.get("/console/users/not-a-uuid/").status_code == 404
    assert admin.get("/console/users/%00/").status_code == 404
    assert admin.get("/console/users/", {"q": "\x00" * 10, "page": "\x00"}).status_code == 200
    url = f"/console/users/{user.pk}/edit/"
    for odd in (
        {"first_name": "a\x00b"},
        {"email": "a\x00@b.test"},
        {"first_name": "x" * 100_000},
        {"email": "x" * 300 + "@a.test"},
    ):
        assert admin.post(url, odd).status_code == 400, odd
    password = f"/console/users/{user.pk}/password/"
    for odd in ("a\x00" * 10, "x" * 5000):
        assert admin.post(password, {"password": odd, "confirm": odd}).status_code == 400
    assert admin.post(f"/console/users/{user.pk}/active/", {"active": "\x00"}).status_code == 302
    assert _reload(tenant_a, user).is_active
