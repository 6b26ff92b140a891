"""The account page (/account/ on the tenant host): profile, email change (re-verified),
password change, sessions, connected apps and their revocation; walls between users and
between tenants; CSRF and POST-redirect-GET on every form."""

import json
import re

import pytest

from tests.support.accounts import VERIFY_LINK, link_token
from tests.support.factories import (
    active,
    authorize_params,
    get_code,
    make_user,
    make_web_client,
    refresh,
    signed_in,
    user_tokens,
)
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db


def _events(tenant, action, user):
    from kernel.audit.models import AuditEvent

    with tenant.context():
        return list(AuditEvent.objects.filter(action=action, object_id=str(user.pk)))


def test_the_account_page_needs_a_signed_in_user(tenant_a):
    answer = tenant_a.client().get("/account/")
    assert answer.status_code == 302 and answer["Location"] == "/oauth/login?next=/account/"
    for path in ("/account/profile/", "/account/password/"):
        assert tenant_a.client().post(path, {}).status_code == 302


def test_the_account_page_shows_the_users_own_things(tenant_a):
    user = make_user(tenant_a)
    web = signed_in(tenant_a, user)
    page = web.get("/account/")
    assert page.status_code == 200
    body = page.content.decode()
    for words in (
        "Your account",
        "Profile",
        "Change password",
        "Where you are signed in",
        "Connected apps",
        user.username,
        "this device",
        "at least 10 characters",
    ):
        assert words in body, words
    assert page.context["mfa_section_template"] == "mfa/_account_section.html"
    assert b"Two-step sign-in" in page.content
    assert page["Cache-Control"].startswith("no-store") or "no-cache" in page["Cache-Control"]
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]


def test_a_profile_change_saves_and_a_new_address_is_verified_again(
    tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    from kernel.accounts.models import User

    user = make_user(tenant_a)
    with tenant_a.context():
        User.objects.filter(pk=user.pk).update(email_verified=True)
    web = signed_in(tenant_a, user)
    same_address = {"first_name": "Ada", "last_name": "Lovelace", "email": user.email.upper()}
    with django_capture_on_commit_callbacks(execute=True):
        saved = web.post("/account/profile/", same_address)
    assert saved.status_code == 302 and saved["Location"] == "/account/"
    with tenant_a.context():
        row = User.objects.get(pk=user.pk)
        assert (row.first_name, row.last_name, row.email_verified) == ("Ada", "Lovelace", True)
    assert mailoutbox == []

    new = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada.new@x.test"}
    with django_capture_on_commit_callbacks(execute=True):
        changed = web.post("/account/profile/", new)
    assert changed.status_code == 302
    assert b"ada.new@x.test" in web.get("/account/").content
    with tenant_a.context():
        row = User.objects.get(pk=user.pk)
        assert (row.email, row.email_verified) == ("ada.new@x.test", False)
    (mail,) = mailoutbox
    assert mail.to == ["ada.new@x.test"]
    token = link_token(mail, VERIFY_LINK)
    (event,) = _events(tenant_a, "user.email_changed", user)
    assert event.changes["email"] == {"old": user.email.upper(), "new": "ada.new@x.test"}
    assert event.changes["email_verified"] == {"old": True, "new": False}
    sent = _events(tenant_a, "user.email_verification_sent", user)
    assert len(sent) == 1 and token not in json.dumps(sent[0].changes)

    bad = web.post("/account/profile/", {"email": "not an address"})
    assert bad.status_code == 400 and b"valid email" in bad.content


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(tenant_a):
    from kernel.accounts.models import User

    client = make_web_client(tenant_a)
    user = make_user(tenant_a)
    tokens = user_tokens(tenant_a, client, user=user)
    here, elsewhere = signed_in(tenant_a, user), signed_in(tenant_a, user)
    new = remember_secret("Changed-by-me-pw-77")
    wrong = here.post(
        "/account/password/",
        {"current_password": "not-it-at-all", "password": new, "confirm": new},
    )
    assert wrong.status_code == 400 and b"current password is not correct" in wrong.content
    weak = here.post(
        "/account/password/",
        {"current_password": user.raw_password, "password": "short", "confirm": "short"},
    )
    assert weak.status_code == 400 and b"too short" in weak.content
    done = here.post(
        "/account/password/",
        {"current_password": user.raw_password, "password": new, "confirm": new},
    )
    assert done.status_code == 302 and done["Location"] == "/account/"
    page = here.get("/account/")
    assert (
        page.status_code == 200 and b"Password changed. 2 other sessions ended." in page.content
    )  # and user_tokens
    assert len(page.context["sessions"]) == 1 and page.context["sessions"][0].current
    assert elsewhere.get("/account/").status_code == 302  # signed out there
    assert refresh(tenant_a, client, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    with tenant_a.context():
        assert User.objects.get(pk=user.pk).check_password(new)
    (event,) = _events(tenant_a, "user.password_changed", user)
    assert new not in json.dumps(event.changes) and event.changes["sessions_ended"] == 2


def test_ending_a_session_asks_first_and_is_walled(tenant_a, tenant_b):
    from kernel.accounts.models import UserSession

    user, stranger = make_user(tenant_a), make_user(tenant_a)
    here, phone = signed_in(tenant_a, user), signed_in(tenant_a, user)
    phone.get("/account/", HTTP_USER_AGENT="PhoneBrowser/1.0")
    strangers = signed_in(tenant_a, stranger)
    with tenant_a.context():
        mine = list(UserSession.objects.filter(user_id=user.pk).order_by("created_at", "pk"))
        theirs = UserSession.objects.get(user_id=stranger.pk)
    current = here.session.session_key
    other = next(s for s in mine if s.session_key != current)
    page = here.get("/account/").content.decode()
    assert f"/account/sessions/{other.pk}/end/" in page
    assert current not in page and other.session_key not in page  # keys are never shown
    ask = here.get(f"/account/sessions/{other.pk}/end/")
    assert ask.status_code == 200 and b"End the session" in ask.content
    assert phone.get("/account/").status_code == 200  # asking ended nothing
    assert here.get(f"/account/sessions/{theirs.pk}/end/").status_code == 404
    assert here.post(f"/account/sessions/{theirs.pk}/end/").status_code == 404
    assert strangers.get("/account/").status_code == 200
    assert here.post(f"/account/sessions/{2**63}/end/").status_code == 404
    ended = here.post(f"/account/sessions/{other.pk}/end/")
    assert ended.status_code == 302 and ended["Location"] == "/account/"
    assert phone.get("/account/").status_code == 302
    assert _events(tenant_a, "user.session_ended", user)
    # Another tenant's user cannot name this tenant's sessions at all.
    outsider = signed_in(tenant_b, make_user(tenant_b))
    assert outsider.post(f"/account/sessions/{other.pk}/end/").status_code == 404


def test_connected_apps_list_scopes_and_last_use_and_revoke_kills_every_token(tenant_a):
    from oauth.models import Consent

    app = make_web_client(tenant_a, name="Budget Planner")
    untouched = make_web_client(tenant_a, name="Other App")
    user = make_user(tenant_a)
    first = user_tokens(tenant_a, app, user=user)
    second = user_tokens(tenant_a, app, user=user)
    kept = user_tokens(tenant_a, untouched, user=user)
    web = signed_in(tenant_a, user)
    page = web.get("/account/")
    (budget,) = [a for a in page.context["apps"] if a.client.client_id == app.client_id]
    assert budget.scopes == ["api", "read"] and budget.last_used is not None
    assert b"Budget Planner" in page.content and b"<code>api</code>" in page.content
    ask = web.get(f"/account/apps/{app.client_id}/revoke/")
    assert ask.status_code == 200 and b"Revoke access" in ask.content
    assert active(tenant_a, first["access_token"])  # asking revoked nothing
    done = web.post(f"/account/apps/{app.client_id}/revoke/")
    assert done.status_code == 302 and done["Location"] == "/account/"
    for tokens in (first, second):
        assert not active(tenant_a, tokens["access_token"])
        assert refresh(tenant_a, app, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert active(tenant_a, kept["access_token"])
    with tenant_a.context():
        assert not Consent.objects.filter(user_id=user.pk, client_id=app.pk).exists()
    names = [a.client.name for a in web.get("/account/").context["apps"]]
    assert names == ["Other App"]
    (event,) = _events_like(tenant_a, "grant.revoked", f"{user.pk}:{app.client_id}")
    assert first["access_token"] not in json.dumps(event.changes)
    # The next authorization asks for consent again.
    answer = web.get("/oauth/authorize", authorize_params(app), secure=True)
    assert answer.status_code == 200 and b"Allow Budget Planner?" in answer.content


def _events_like(tenant, action, object_id):
    from kernel.audit.models import AuditEvent

    with tenant.context():
        return list(AuditEvent.objects.filter(action=action, object_id=object_id))


def test_revoking_is_walled_between_users_and_tenants(tenant_a, tenant_b):
    app = make_web_client(tenant_a, name="Mine Only")
    owner, stranger = make_user(tenant_a), make_user(tenant_a)
    tokens = user_tokens(tenant_a, app, user=owner)
    # A user who never consented to the app cannot revoke anything of it.
    assert (
        signed_in(tenant_a, stranger).post(f"/account/apps/{app.client_id}/revoke/").status_code
        == 404
    )
    # At another tenant the client id names nothing.
    outsider = signed_in(tenant_b, make_user(tenant_b))
    assert outsider.post(f"/account/apps/{app.client_id}/revoke/").status_code == 404
    assert outsider.get(f"/account/apps/{'x' * 500}/revoke/").status_code == 404
    assert active(tenant_a, tokens["access_token"])


def test_every_account_form_is_csrf_protected(tenant_a):
    app = make_web_client(tenant_a)
    user = make_user(tenant_a)
    tokens = user_tokens(tenant_a, app, user=user)
    web = tenant_a.client(enforce_csrf_checks=True)
    with tenant_a.context():
        web.force_login(user)
    new = remember_secret("Csrf-blocked-pw-123")
    for path, data in (
        ("/account/profile/", {"email": "evil@x.test"}),
        (
            "/account/password/",
            {"current_password": user.raw_password, "password": new, "confirm": new},
        ),
        (f"/account/apps/{app.client_id}/revoke/", {}),
    ):
        assert web.post(path, data).status_code == 403, path
    assert active(tenant_a, tokens["access_token"])
    page = web.get("/account/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    with_token = web.post(
        "/account/profile/",
        {"csrfmiddlewaretoken": token, "email": user.email},
        HTTP_REFERER=f"https://{tenant_a.host}/account/",
    )
    assert with_token.status_code == 302


def test_a_user_signed_in_with_a_code_sees_the_app_they_consented_to(tenant_a):
    app = make_web_client(tenant_a, name="Fresh Consent")
    user = make_user(tenant_a)
    web = signed_in(tenant_a, user)
    get_code(tenant_a, web, app)  # consent given, no token yet
    (shown,) = [a for a in web.get("/account/").context["apps"] if a.client.pk == app.pk]
    assert shown.last_used is None and shown.consented_at is not None
    assert b"not recently" in web.get("/account/").content
