"""OIDC Back-Channel Logout 1.0 in process: registering ``backchannel_logout_uri`` (metadata,
CLI, console, RFC 7591), ``sid`` per browser session, which sign-outs make a logout due, the
logout token itself (jwcrypto as the independent verifier), the SSRF-safe POST and one
delivery attempt against a real https receiver. The worker path is in test_live_backchannel.
"""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
import trustme
from django.core.management import call_command

from oauth.backchannel.signals import logout_due
from oauth.backchannel.tokens import LOGOUT_EVENT
from tests.oauth.backchannel.receiver import LogoutReceiver
from tests.oauth.console.test_clients import _edit_data
from tests.oauth.console.test_console import _staff_client
from tests.oauth.registration.helpers import register, set_policy
from tests.support import jose
from tests.support.celery import clear_broker
from tests.support.factories import make_user, make_web_client, post_form
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

REDIRECT = "https://app.example.com/callback"
BCL_URI = "https://app.example.com/backchannel-logout"


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("rp-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    started = LogoutReceiver(ca).start()
    started.ca_path = str(path)
    yield started
    started.stop()


@pytest.fixture
def loopback_fetch(settings, receiver):
    """The fetcher's development allowance for loopback, trusting the receiver's CA."""

    def _set(**options):
        current = dict(settings.GATEHOUSE.get("DOCUMENT_FETCH", {}))
        current.update({"ALLOW_LOOPBACK": True, "CA_BUNDLE": receiver.ca_path, **options})
        settings.GATEHOUSE = {**settings.GATEHOUSE, "DOCUMENT_FETCH": current}

    _set()
    return _set


@pytest.fixture
def due():
    """Every ``logout_due`` sent (after commit) during the test; the broker is emptied after,
    since the workers layer queues each one too."""
    sent: list[dict] = []

    def record(sender, signal, **notice):
        sent.append(notice)

    logout_due.connect(record, dispatch_uid="tests.backchannel.due")
    yield sent
    logout_due.disconnect(dispatch_uid="tests.backchannel.due")
    clear_broker()


def _metadata(tenant, **options):
    from oauth.client_metadata import ClientMetadata

    options.setdefault("name", "Portal")
    options.setdefault("redirect_uris", [REDIRECT])
    with tenant.context():
        return ClientMetadata(**options)


# --- Registration -------------------------------------------------------------------------


def test_a_backchannel_logout_uri_is_validated(tenant_a, settings):
    assert _metadata(tenant_a, backchannel_logout_uri=BCL_URI).backchannel_logout_uri == BCL_URI
    from oauth.client_metadata import ClientError

    bad = {
        "http://app.example.com/logout": "https",
        "http://127.0.0.1:8000/logout": "https",  # loopback only with the dev allowance
        "https://app.example.com/logout#frag": "fragment",
        "https://user:pw@app.example.com/logout": "user name",
        "/logout": "https",
        "https://app.example.com:99999/logout": "not a URI",
    }
    for uri, message in bad.items():
        with pytest.raises(ClientError, match=message) as caught:
            _metadata(tenant_a, backchannel_logout_uri=uri)
        assert caught.value.field == "backchannel_logout_uri"
    with pytest.raises(ClientError, match="only used with authorization_code"):
        _metadata(tenant_a, redirect_uris=[], backchannel_logout_uri=BCL_URI)
    with pytest.raises(ClientError, match="needs a backchannel_logout_uri"):
        _metadata(tenant_a, backchannel_logout_session_required=True)
    settings.GATEHOUSE = {
        **settings.GATEHOUSE,
        "DOCUMENT_FETCH": {**settings.GATEHOUSE.get("DOCUMENT_FETCH", {}), "ALLOW_LOOPBACK": True},
    }
    local = "http://127.0.0.1:8000/logout"
    assert _metadata(tenant_a, backchannel_logout_uri=local).backchannel_logout_uri == local


def test_rfc7591_registration_takes_and_returns_the_backchannel_logout_uri(tenant_a):
    from oauth.models import Client

    set_policy(tenant_a, mode="open")
    body = {
        "client_name": "RP",
        "redirect_uris": [REDIRECT],
        "scope": "openid",
        "backchannel_logout_uri": BCL_URI,
        "backchannel_logout_session_required": True,
    }
    answer = register(tenant_a, body)
    assert answer.status_code == 201, answer.content
    registered = answer.json()
    assert registered["backchannel_logout_uri"] == BCL_URI
    assert registered["backchannel_logout_session_required"] is True
    with tenant_a.context():
        client = Client.objects.get(client_id=registered["client_id"])
    assert client.backchannel_logout_uri == BCL_URI and client.backchannel_logout_session_required

    for change in (
        {"backchannel_logout_uri": "https://app.example.com/l#x"},
        {"backchannel_logout_uri": 7},
        {"backchannel_logout_session_required": "yes"},
    ):
        refused = register(tenant_a, {**body, **change})
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_client_metadata"


def test_the_cli_registers_a_backchannel_logout_uri(tenant_a):
    from oauth.models import Client

    out = StringIO()
    call_command(
        "register_client",
        *("--tenant", tenant_a.slug, "--name", "CLI RP", "--redirect-uri", REDIRECT),
        *("--backchannel-logout-uri", BCL_URI, "--backchannel-logout-session-required"),
        "--json",
        stdout=out,
    )
    result = json.loads(out.getvalue())
    remember_secret(result["client_secret"])
    with tenant_a.context():
        client = Client.objects.get(client_id=result["client_id"])
    assert client.backchannel_logout_uri == BCL_URI and client.backchannel_logout_session_required


def test_the_console_edits_the_backchannel_logout_uri(tenant_a):
    from oauth.models import Client

    web = make_web_client(tenant_a, name="Portal", scopes=["openid", "api"])
    admin = _staff_client(tenant_a)
    url = f"/console/clients/{web.client_id}/edit/"
    bad = admin.post(url, _edit_data(backchannel_logout_uri="http://portal.example.com/l"))
    assert bad.status_code == 400 and b"must be an https URL" in bad.content
    saved = admin.post(
        url,
        _edit_data(backchannel_logout_uri=BCL_URI, backchannel_logout_session_required="on"),
    )
    assert saved.status_code == 302
    with tenant_a.context():
        client = Client.objects.get(pk=web.pk)
    assert client.backchannel_logout_uri == BCL_URI and client.backchannel_logout_session_required
    page = admin.get(f"/console/clients/{web.client_id}/")
    assert BCL_URI.encode() in page.content and b"(needs sid)" in page.content
    assert BCL_URI.encode() in admin.get(url).content


def test_discovery_advertises_backchannel_logout_with_sessions(tenant):
    doc = tenant.client().get("/.well-known/openid-configuration").json()
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True
    assert "sid" in doc["claims_supported"]


# --- Sessions and sign-outs ---------------------------------------------------------------


def _browser(tenant, user):
    web = tenant.client()
    with tenant.context():
        web.force_login(user)
    return web


def _sessions(tenant, user):
    from kernel.accounts.models import UserSession

    with tenant.context():
        return list(UserSession.objects.filter(user=user).values_list("session_key", "sid"))


def _record(tenant, user, sid, *clients):
    from oauth.backchannel.services import session_client_record
    from oauth.models import Client

    with tenant.context():
        for registered in clients:
            client = Client.objects.get(pk=registered.pk)
            session_client_record(sid=sid, client=client, user=user)


def test_each_browser_session_has_its_own_sid_and_a_sign_in_again_keeps_it(tenant_a):
    from kernel.accounts.services import SID_SESSION_KEY

    user = make_user(tenant_a)
    web = _browser(tenant_a, user)
    ((key, sid),) = _sessions(tenant_a, user)
    with tenant_a.context():
        assert len(sid) >= 32 and web.session[SID_SESSION_KEY] == sid
    with tenant_a.context():
        web.force_login(user)  # signing in again in the same browser session
    assert _sessions(tenant_a, user) == [(key, sid)]
    _browser(tenant_a, user)  # another browser
    sids = {s for _k, s in _sessions(tenant_a, user)}
    assert len(sids) == 2 and sid in sids


def _id_token(tenant, client, user) -> str:
    from oauth.models import Client
    from oauth.oidc.tokens import build_id_token

    with tenant.context():
        token = build_id_token(
            issuer=tenant.issuer,
            client=Client.objects.get(pk=client.pk),
            user=user,
            auth_time=int(time.time()),
        )
    return remember_secret(token)


def _rp_initiated(tenant, web, user, client):
    hint = _id_token(tenant, client, user)
    response = post_form(
        web, "/oauth/logout", {"id_token_hint": hint, "client_id": client.client_id}
    )
    assert response.status_code == 200


def _console_end_session(tenant, web, user, client):
    from kernel.accounts.models import UserSession
    from kernel.accounts.services import user_session_end

    with tenant.context():
        user_session_end(session=UserSession.objects.get(user=user))


def _disabled(tenant, web, user, client):
    from kernel.accounts.services import user_set_active

    with tenant.context():
        user_set_active(user=user, active=False)


def _password_reset(tenant, web, user, client):
    from django.utils import timezone

    from kernel import credentials
    from kernel.accounts.models import PasswordReset
    from kernel.accounts.services import password_reset_complete

    token = remember_secret(credentials.new_secret())
    with tenant.context():
        PasswordReset.objects.create(
            token_digest=credentials.digest(token),
            user=user,
            created_at=timezone.now(),
            expires_at=timezone.now() + timezone.timedelta(hours=1),
        )
        password_reset_complete(token=token, password=remember_secret("A-new-pass-9876!"))


def _password_set_by_admin(tenant, web, user, client):
    from kernel.accounts.services import user_set_password

    with tenant.context():
        user_set_password(user=user, password=remember_secret("Another-pass-5432!"))


def _deleted(tenant, web, user, client):
    from kernel.accounts.services import user_delete

    with tenant.context():
        user_delete(user=user)


@pytest.mark.parametrize(
    "sign_out",
    [
        _rp_initiated,
        _console_end_session,
        _disabled,
        _password_reset,
        _password_set_by_admin,
        _deleted,
    ],
    ids=["rp-initiated", "console-end-session", "disabled", "reset", "admin-password", "deleted"],
)
def test_every_sign_out_makes_a_logout_due_for_the_sessions_clients(
    tenant_a, tenant_b, sign_out, due, django_capture_on_commit_callbacks
):
    listening = make_web_client(tenant_a, scopes=["openid"], backchannel_logout_uri=BCL_URI)
    deaf = make_web_client(tenant_a, scopes=["openid"])
    elsewhere = make_web_client(tenant_a, scopes=["openid"], backchannel_logout_uri=BCL_URI)
    user = make_user(tenant_a)
    web = _browser(tenant_a, user)
    ((_key, sid),) = _sessions(tenant_a, user)
    _record(tenant_a, user, sid, listening, deaf)
    _record(tenant_a, user, "another-browser-session-sid-000000", elsewhere)

    with django_capture_on_commit_callbacks(execute=True):
        sign_out(tenant_a, web, user, listening)

    (owed,) = _owed(tenant_a, user)
    assert due == [{"schema": tenant_a.schema, "delivery_ids": [owed.pop("id")]}]
    assert owed == {
        "client_id": listening.pk,
        "issuer": tenant_a.issuer,
        "sub": str(user.pk),
        "sid": sid,
        "state": "pending",
        "attempts": 0,
    }
    from oauth.models import SessionClient

    with tenant_a.context():
        left = set(SessionClient.objects.values_list("sid", flat=True))
    assert sid not in left


def _owed(tenant, user) -> list[dict]:
    """The outbox rows for ``user``'s logout tokens in ``tenant``."""
    from oauth.models import BackchannelLogoutDelivery

    with tenant.context():
        return list(
            BackchannelLogoutDelivery.objects.filter(sub=str(user.pk)).values(
                "id", "client_id", "issuer", "sub", "sid", "state", "attempts"
            )
        )


def test_a_sign_out_that_rolls_back_tells_nobody(tenant_a, due, django_capture_on_commit_callbacks):
    from django.db import transaction

    from kernel.accounts.services import user_set_active

    listening = make_web_client(tenant_a, scopes=["openid"], backchannel_logout_uri=BCL_URI)
    user = make_user(tenant_a)
    _browser(tenant_a, user)
    ((_key, sid),) = _sessions(tenant_a, user)
    _record(tenant_a, user, sid, listening)
    with django_capture_on_commit_callbacks(execute=True), tenant_a.context():
        with pytest.raises(RuntimeError), transaction.atomic():
            user_set_active(user=user, active=False)
            raise RuntimeError("the request failed after the sign-out")
    assert due == []
    assert _owed(tenant_a, user) == []  # the outbox rows rolled back with the sign-out
    assert _sessions(tenant_a, user) == [(_key, sid)]


# --- The logout token and its delivery ----------------------------------------------------


def _jwks(tenant) -> dict:
    return tenant.client().get("/oauth/jwks").json()


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_the_logout_token_is_signed_for_the_clients_id_token_alg(two_tenants, alg):
    from oauth.backchannel.tokens import build_logout_token
    from oauth.models import Client

    alpha, bravo = two_tenants
    registered = make_web_client(
        bravo, scopes=["openid"], backchannel_logout_uri=BCL_URI,
        id_token_signed_response_alg=alg,
    )  # fmt: skip
    with bravo.context():
        client = Client.objects.get(pk=registered.pk)
        token = build_logout_token(issuer=bravo.issuer, client=client, sub="u-1", sid="s-1")
    remember_secret(token)
    verified = jose.verify(token, _jwks(bravo), [alg])
    assert verified.header["typ"] == "logout+jwt" and verified.header["alg"] == alg
    claims = verified.claims
    assert set(claims) == {"iss", "aud", "iat", "exp", "jti", "events", "sub", "sid"}
    assert claims["events"] == {LOGOUT_EVENT: {}} and claims["aud"] == registered.client_id
    assert claims["iss"] == bravo.issuer and 0 < claims["exp"] - claims["iat"] <= 300
    with pytest.raises(jose.VerificationFailed):
        jose.verify(token, _jwks(alpha), [alg])  # another tenant's keys


def test_post_form_keeps_the_fetchers_ssrf_rules(loopback_fetch, receiver):
    from oauth.fetch import FetchError
    from oauth.fetch_post import post_form

    for url in (
        "https://10.0.0.1/logout",
        "https://169.254.169.254/latest",
        "http://app.example.com/logout",
        "https://user:pw@localhost/logout",
        "ftp://localhost/logout",
    ):
        with pytest.raises(FetchError):
            post_form(url, {"logout_token": "x"}, timeout=2)
    receiver.status = 302
    try:
        assert post_form(receiver.url("/redirecting"), {"a": "b"}, timeout=2) == 302
    finally:
        receiver.status = 200
    assert len(receiver.at("/redirecting")) == 1  # not followed
    loopback_fetch(ALLOW_LOOPBACK=False)
    with pytest.raises(FetchError, match="internal address"):
        post_form(receiver.url("/refused"), {"a": "b"}, timeout=2)
    assert receiver.at("/refused") == []


def _delivery_audit(tenant, client_id):
    from kernel.audit.models import AuditEvent

    with tenant.context():
        return list(
            AuditEvent.objects.filter(
                object_id=client_id, action__startswith="client.backch"
            ).values_list("action", "changes")
        )


def test_one_delivery_attempt_posts_and_audits_without_the_token(
    loopback_fetch, receiver, tenant_a
):
    from oauth.backchannel.services import Outcome, logout_deliver
    from oauth.models import Client

    path = "/inproc/ok"
    client = make_web_client(tenant_a, scopes=["openid"], backchannel_logout_uri=receiver.url(path))
    with tenant_a.context():
        delivery = logout_deliver(
            client_id=client.client_id, issuer=tenant_a.issuer, sub="u-7", sid="s-7", attempt=1
        )
    assert delivery.outcome is Outcome.DELIVERED
    (received,) = receiver.at(path)
    token = remember_secret(received.form["logout_token"][0])
    claims = jose.verify(token, _jwks(tenant_a), ["RS256"]).claims
    assert (claims["sub"], claims["sid"], claims["iss"]) == ("u-7", "s-7", tenant_a.issuer)
    audit = _delivery_audit(tenant_a, client.client_id)
    assert audit == [
        ("client.backchannel_logout_delivered", {"user": "u-7", "attempt": 1, "status": 200})
    ]
    assert token not in str(audit)

    receiver.status = 400  # §2.8: the client could not log the user out; it would not again
    try:
        with tenant_a.context():
            refused = logout_deliver(
                client_id=client.client_id, issuer=tenant_a.issuer, sub="u-7", sid="", attempt=1
            )
    finally:
        receiver.status = 200
    assert refused.outcome is Outcome.FAILED
    assert "sid" not in jose.verify(receiver.at(path)[-1].form["logout_token"][0],
                                    _jwks(tenant_a), ["RS256"]).claims  # fmt: skip
    with tenant_a.context():
        Client.objects.filter(pk=client.pk).update(disabled=True)
        dropped = logout_deliver(
            client_id=client.client_id, issuer=tenant_a.issuer, sub="u-7", sid="s-7", attempt=1
        )
    assert dropped.outcome is Outcome.DROPPED and len(receiver.at(path)) == 2


def test_the_purge_drops_a_sessions_clients_once_its_session_is_gone(two_tenants):
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from kernel.accounts.models import UserSession
    from oauth.models import Client, SessionClient
    from workers.purge import purge_schema

    old = timezone.now() - timedelta(hours=2)
    for tenant in two_tenants:
        user = make_user(tenant)
        registered = make_web_client(tenant, scopes=["openid"], backchannel_logout_uri=BCL_URI)
        with tenant.context():
            client = Client.objects.get(pk=registered.pk)
            Session.objects.create(
                session_key=f"bcl-live-{tenant.slug}",
                session_data="",
                expire_date=timezone.now() + timedelta(days=1),
            )
            live = UserSession.objects.create(
                session_key=f"bcl-live-{tenant.slug}", user=user, created_at=old
            )
            for sid, created in ((live.sid, old), ("gone", old), ("fresh-gone", timezone.now())):
                SessionClient.objects.create(sid=sid, client=client, user=user, created_at=created)
    alpha, bravo = two_tenants
    assert purge_schema(schema=alpha.schema)["session_clients"] == 1
    with alpha.context():
        left = set(SessionClient.objects.values_list("sid", flat=True))
        live_sid = UserSession.objects.get(session_key="bcl-live-alpha").sid
    assert {live_sid, "fresh-gone"} <= left and "gone" not in left
    with bravo.context():
        assert SessionClient.objects.filter(sid="gone").exists()


def test_an_operator_signing_out_in_public_tells_nobody(two_tenants, due):
    from django.db import connection
    from django.utils import timezone

    from kernel.accounts.models import User, UserSession
    from kernel.accounts.services import user_set_active

    connection.set_schema_to_public()
    operator = User.objects.create_user(username="bcl-operator", password=None, is_staff=True)
    UserSession.objects.create(
        session_key="bcl-operator-session", user=operator, created_at=timezone.now()
    )
    user_set_active(user=operator, active=False)  # ends the operator's sessions in public
    assert not UserSession.objects.filter(user=operator).exists()
    assert due == []
