"""The console's audit log: who may read it, filters, pages, exports, retention, and the
security and sign-in events written where they happen (never with a secret in them)."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from kernel.audit.context import Actor, acting_as
from kernel.audit.models import AuditEvent, AuditSettings
from kernel.audit.services import audit_record
from oauth.console.views.access import PAGE_SIZE
from tests.support import secrets
from tests.support.factories import (
    assert_error,
    exchange_code,
    get_code,
    make_user,
    make_web_client,
    post_form,
    remember_tokens,
    signed_in,
    token_request,
    user_tokens,
)
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

ADMIN_IP = "203.0.113.10"
ATTACKER_IP = "198.51.100.66"


def _admin(tenant):
    from kernel.accounts.models import User

    with tenant.context():
        return User.objects.get(username=tenant.admin_username)


def _console(tenant, **defaults):
    web = tenant.client(**defaults)
    admin = _admin(tenant)
    with tenant.context():
        web.force_login(admin)
    return web


def _staff_user(tenant):
    """A fresh admin (its own login-throttle counter), password remembered."""
    from kernel.accounts.models import User

    user = make_user(tenant, username=f"ops-{uuid.uuid4().hex[:8]}")
    with tenant.context():
        User.objects.filter(pk=user.pk).update(is_staff=True)
    return user


def _event(tenant, *, kind: str, **fields) -> AuditEvent:
    """An event of type ``kind`` (unique per test, so other tests' rows never count)."""
    when = fields.pop("when", None)
    actor = fields.pop("actor", Actor(id="", label="someone", ip="192.0.2.1"))
    with tenant.context(), acting_as(actor):
        event = audit_record(object_type=kind, **fields)
        if when is not None:
            AuditEvent.objects.filter(pk=event.pk).update(created_at=when)
            event.refresh_from_db()
    return event


def _kind() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _events(tenant, **criteria):
    with tenant.context():
        return list(AuditEvent.objects.filter(**criteria).order_by("created_at", "pk"))


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- Who may read it --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/console/audit/", "/console/audit/export.csv"])
def test_anonymous_goes_to_sign_in_and_a_non_admin_gets_403(tenant_a, path):
    anonymous = tenant_a.client().get(path)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(f"/oauth/login?next={path}")
    plain = signed_in(tenant_a, make_user(tenant_a))
    assert plain.get(path).status_code == 403
    assert plain.post("/console/audit/retention/", {"retention_days": "1"}).status_code == 403
    with tenant_a.context():
        assert AuditSettings.load().retention_days == 90


def test_another_tenants_admin_sees_none_of_its_events(tenant_a, tenant_b):
    kind = _kind()
    _event(tenant_a, kind=kind, action="client.created", object_label="Alpha secret project")
    own = _console(tenant_a).get("/console/audit/", {"object_type": kind})
    assert own.status_code == 200 and b"Alpha secret project" in own.content
    admin_b = _console(tenant_b)
    for path in ("/console/audit/", "/console/audit/export.csv", "/console/audit/export.jsonl"):
        for query in ({}, {"object_type": kind}):
            response = admin_b.get(path, query)
            assert response.status_code == 200
            assert b"Alpha secret project" not in _body(response)
    # A's session cookie means nothing at B's host.
    at_b = tenant_b.client()
    at_b.cookies = _console(tenant_a).cookies
    assert at_b.get("/console/audit/").status_code == 302


# --- The page ---------------------------------------------------------------------------------


def test_rows_show_time_zone_actor_ip_words_object_and_diff(tenant_a):
    kind = _kind()
    _event(
        tenant_a,
        kind=kind,
        action="client.updated",
        object_id="cl-123",
        object_label="Billing",
        changes={"name": {"old": "Bill", "new": "Billing"}},
        actor=Actor(id="u-1", label="boss@alpha.test", ip="203.0.113.99"),
    )
    page = _console(tenant_a).get("/console/audit/", {"object_type": kind})
    html = page.content.decode()
    assert page.status_code == 200
    assert re.search(r"\d{4}-\d\d-\d\d<br>\d\d:\d\d:\d\d UTC</time>", html)
    assert "boss@alpha.test" in html and "203.0.113.99" in html
    assert "Client updated" in html and "client.updated" in html
    assert "Billing" in html and "cl-123" in html
    assert "<del>Bill</del> → <ins>Billing</ins>" in html
    assert 'href="/console/audit/"' in html  # the nav link


def test_filters_by_action_actor_object_and_dates(tenant_a):
    kind = _kind()
    now = timezone.now()
    alice = Actor(id="a-1", label="alice@alpha.test", ip="192.0.2.1")
    bob = Actor(id="b-2", label="bob@alpha.test", ip="192.0.2.2")
    _event(
        tenant_a,
        kind=kind,
        action="client.created",
        object_id="c1",
        object_label="ev-one",
        actor=alice,
        when=now - timedelta(days=10),
    )
    _event(
        tenant_a,
        kind=kind,
        action="client.deleted",
        object_id="c2",
        object_label="ev-two",
        actor=bob,
        when=now - timedelta(days=5),
    )
    _event(
        tenant_a,
        kind=kind,
        action="user.updated",
        object_id="u1",
        object_label="ev-three",
        actor=alice,
        when=now,
    )
    web = _console(tenant_a)

    def shown(**query) -> set[str]:
        response = web.get("/console/audit/", {"object_type": kind, **query})
        assert response.status_code == 200, response.content
        return set(re.findall(r"ev-\w+", response.content.decode()))

    assert shown() == {"ev-one", "ev-two", "ev-three"}
    assert shown(action="client") == {"ev-one", "ev-two"}
    assert shown(action="client.deleted") == {"ev-two"}
    assert shown(action="cli") == set()  # a family is a whole name, not any prefix
    assert shown(actor="alice") == {"ev-one", "ev-three"}
    assert shown(actor="b-2") == {"ev-two"}
    assert shown(object_id="u1") == {"ev-three"}
    day = lambda d: (now - timedelta(days=d)).date().isoformat()  # noqa: E731
    assert shown(date_from=day(6)) == {"ev-two", "ev-three"}
    assert shown(date_to=day(5)) == {"ev-one", "ev-two"}
    assert shown(date_from=day(5), date_to=day(5)) == {"ev-two"}
    assert shown(object_type=_kind()) == set()


@pytest.mark.parametrize(
    "query, field_error",
    [
        ({"date_from": "2026-13-45"}, "Enter a valid date."),
        ({"date_from": "99999-01-01"}, "Enter a valid date."),
        ({"date_to": "0001-01-01"}, "Enter a date between 1900 and 9998."),
        ({"date_from": "2026-05-02", "date_to": "2026-05-01"}, "The end date is before"),
        ({"actor": "a\x00b"}, "Null characters are not allowed."),
        ({"object_id": "x" * 5000}, "Ensure this value has at most 128 characters"),
        ({"action": "y" * 65}, "Ensure this value has at most 64 characters"),
    ],
)
def test_bad_filter_input_is_a_field_error_never_a_500(tenant_a, query, field_error):
    web = _console(tenant_a)
    page = web.get("/console/audit/", query)
    assert page.status_code == 400
    assert field_error in page.content.decode()
    assert 'role="alert"' in page.content.decode()
    export = web.get("/console/audit/export.csv", query)
    assert export.status_code == 400 and not export.streaming
    assert web.get("/console/audit/export.xlsx").status_code == 404


def test_pages_newest_first(tenant_a):
    kind = _kind()
    start = timezone.now() - timedelta(hours=1)
    for i in range(PAGE_SIZE + 3):
        _event(
            tenant_a,
            kind=kind,
            action="client.updated",
            object_label=f"row-{i:03d}",
            when=start + timedelta(seconds=i),
        )
    web = _console(tenant_a)

    def labels(page) -> list[str]:
        response = web.get("/console/audit/", {"object_type": kind, "page": page})
        assert response.status_code == 200
        return re.findall(r"row-\d{3}", response.content.decode())

    first = labels("1")
    assert len(first) == PAGE_SIZE and first[0] == f"row-{PAGE_SIZE + 2:03d}"
    assert first == sorted(first, reverse=True)
    assert labels("2") == ["row-002", "row-001", "row-000"]
    assert labels("999") == labels("2")  # past the end: the last page
    assert labels("x\x00") == first  # nonsense: the first page
    html = web.get("/console/audit/", {"object_type": kind}).content.decode()
    assert f"object_type={kind}&amp;page=2" in html  # page links keep the filter


# --- Exports ----------------------------------------------------------------------------------


def test_exports_parse_and_match_the_filter(tenant_a):
    kind = _kind()
    for i in range(3):
        _event(
            tenant_a,
            kind=kind,
            action="client.created",
            object_id=f"c{i}",
            object_label=f"x-{i}",
            changes={"scopes": {"old": None, "new": ["api"]}},
        )
    _event(tenant_a, kind=kind, action="user.created", object_id="u0", object_label="x-u")
    web = _console(tenant_a)
    query = {"object_type": kind, "action": "client"}

    as_csv = web.get("/console/audit/export.csv", query)
    assert as_csv.status_code == 200 and as_csv.streaming
    assert as_csv["Content-Type"].startswith("text/csv")
    assert re.match(
        r'attachment; filename="audit-alpha-\d{8}-\d{6}\.csv"', as_csv["Content-Disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(_body(as_csv).decode())))
    assert [r["object_label"] for r in rows] == ["x-2", "x-1", "x-0"]
    assert {r["action"] for r in rows} == {"client.created"}
    assert json.loads(rows[0]["changes"]) == {"scopes": {"old": None, "new": ["api"]}}
    assert rows[0]["time"].endswith("+00:00") and rows[0]["ip"] == "192.0.2.1"

    as_jsonl = web.get("/console/audit/export.jsonl", query)
    assert as_jsonl.status_code == 200 and as_jsonl.streaming
    assert as_jsonl["Content-Disposition"].startswith("attachment; ")
    records = [json.loads(line) for line in _body(as_jsonl).decode().splitlines()]
    assert [r["object_id"] for r in records] == ["c2", "c1", "c0"]
    assert records[0]["description"] == "Client created"
    assert records[0]["changes"] == {"scopes": {"old": None, "new": ["api"]}}


def test_export_reads_in_batches_past_one_batch(tenant_a, monkeypatch):
    from kernel.audit import selectors

    kind = _kind()
    for i in range(7):
        _event(tenant_a, kind=kind, action="key.rotated", object_label=f"k-{i}")
    monkeypatch.setattr(selectors, "BATCH_SIZE", 3)
    monkeypatch.setattr(selectors.in_batches, "__defaults__", (3,))
    body = _body(_console(tenant_a).get("/console/audit/export.jsonl", {"object_type": kind}))
    labels = [json.loads(line)["object_label"] for line in body.decode().splitlines()]
    assert labels == [f"k-{i}" for i in reversed(range(7))]


def test_csv_cells_that_look_like_formulas_are_neutralised(tenant_a):
    kind = _kind()
    _event(
        tenant_a,
        kind=kind,
        action="client.created",
        object_id="+1-555",
        object_label='=HYPERLINK("https://evil.example","click")',
        actor=Actor(id="-2", label="@SUM(A1:A9)", ip=""),
    )
    web = _console(tenant_a)
    body = _body(web.get("/console/audit/export.csv", {"object_type": kind})).decode()
    (row,) = list(csv.DictReader(io.StringIO(body)))
    assert row["object_label"] == '\'=HYPERLINK("https://evil.example","click")'
    assert row["actor"] == "'@SUM(A1:A9)"
    assert row["object_id"] == "'+1-555" and row["actor_id"] == "'-2"
    assert row["action"] == "client.created"  # ordinary cells untouched
    # JSON lines are data, not a spreadsheet: values stay as they were.
    line = _body(web.get("/console/audit/export.jsonl", {"object_type": kind})).decode()
    assert json.loads(line)["object_label"].startswith("=HYPERLINK")


# --- Retention --------------------------------------------------------------------------------


def _csrf_post(web, path, data):
    page = web.get("/console/audit/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1)
    referer = f"https://{web.defaults['HTTP_HOST']}/console/audit/"
    return web.post(path, {**data, "csrfmiddlewaretoken": token.decode()}, HTTP_REFERER=referer)


def test_retention_form_enforces_csrf_redirects_and_is_audited(tenant_a):
    kind = _kind()
    old = _event(tenant_a, kind=kind, action="client.created")
    web = _console(tenant_a, REMOTE_ADDR=ADMIN_IP, enforce_csrf_checks=True)

    forged = web.post("/console/audit/retention/", {"retention_days": "1"})
    assert forged.status_code == 403
    with tenant_a.context():
        assert AuditSettings.load().retention_days == 90

    saved = _csrf_post(web, "/console/audit/retention/", {"retention_days": "30"})
    assert saved.status_code == 302 and saved["Location"] == "/console/audit/"
    landed = web.get(saved["Location"])
    assert b"kept for 30 days" in landed.content
    web.get(saved["Location"])  # a reload repeats nothing
    admin = _admin(tenant_a)
    (changed,) = _events(tenant_a, action="audit.retention_changed")
    assert (changed.actor_id, changed.actor_label, changed.ip) == (
        str(admin.pk),
        tenant_a.admin_username,
        ADMIN_IP,
    )
    assert changed.changes == {"retention days": {"old": 90, "new": 30}}
    with tenant_a.context():
        assert AuditSettings.load().retention_days == 30
        old.refresh_from_db()
        assert old.purge_after == old.created_at + timedelta(days=30)


@pytest.mark.parametrize("value", ["0", "3651", "abc", "", "9" * 5000, "1\x00"])
def test_retention_out_of_range_is_a_field_error(tenant_a, value):
    page = _console(tenant_a).post("/console/audit/retention/", {"retention_days": value})
    assert page.status_code == 400
    assert b'<small class="error" role="alert">' in page.content
    with tenant_a.context():
        assert AuditSettings.load().retention_days == 90
    assert not _events(tenant_a, action="audit.retention_changed")


# --- Security events, from real flows ---------------------------------------------------------


def _set_window(tenant, seconds: int) -> None:
    from oauth.services.issuer import issuer_settings_update

    with tenant.context():
        issuer_settings_update(refresh_reuse_window=seconds)


def _reuse_refresh_token(tenant):
    """A refresh token presented again after the concurrency window, from ATTACKER_IP."""
    from oauth.models import Token
    from oauth.selectors import refresh_token_by_value

    _set_window(tenant, 60)
    client = make_web_client(tenant)
    user = make_user(tenant)
    first = user_tokens(tenant, client, user)
    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = token_request(tenant, data, client)
    assert second.status_code == 200
    remember_tokens(second.json())
    with tenant.context():
        old = refresh_token_by_value(value=first["refresh_token"])
        Token.objects.filter(pk=old.pk).update(retired_at=timezone.now() - timedelta(seconds=120))
    assert_error(token_request(tenant, data, client, REMOTE_ADDR=ATTACKER_IP), 400, "invalid_grant")
    return client, user, old.family_id


def test_refresh_token_reuse_is_audited(tenant, two_tenants):
    client, user, family_id = _reuse_refresh_token(tenant)
    (event,) = _events(tenant, action="security.refresh_token_reused", object_id=client.client_id)
    assert (event.object_type, event.object_label) == ("client", "Web app")
    assert (event.actor_id, event.actor_label, event.ip) == ("", "anonymous", ATTACKER_IP)
    assert event.changes == {"grant family": family_id, "user": str(user.pk)}
    (other,) = [t for t in two_tenants if t is not tenant]
    assert not _events(other, object_id=client.client_id)


def _replay_code(tenant):
    client = make_web_client(tenant)
    user = make_user(tenant)
    code = get_code(tenant, signed_in(tenant, user), client)
    remember_tokens(exchange_code(tenant, client, code).json())
    assert_error(exchange_code(tenant, client, code, REMOTE_ADDR=ATTACKER_IP), 400, "invalid_grant")
    return client, user


def test_code_replay_is_audited(tenant):
    from oauth.models import AuthorizationCode

    client, user = _replay_code(tenant)
    (event,) = _events(tenant, action="security.code_replayed", object_id=client.client_id)
    with tenant.context():
        family_id = AuthorizationCode.objects.get(client_id=client.pk).family_id
    assert family_id is not None
    assert (event.object_type, event.object_label) == ("client", "Web app")
    assert (event.actor_label, event.ip) == ("anonymous", ATTACKER_IP)
    assert event.changes == {"grant family": family_id, "user": str(user.pk)}


def test_code_replay_caught_at_redemption_is_audited_too(tenant_a):
    """The replay that loses the race to the row lock (``authorization_code_redeem``)."""
    from oauth.models import AuthorizationCode, Client
    from oauth.services.codes import Redemption, authorization_code_redeem

    client = make_web_client(tenant_a)
    user = make_user(tenant_a)
    code = get_code(tenant_a, signed_in(tenant_a, user), client)
    remember_tokens(exchange_code(tenant_a, client, code).json())
    with tenant_a.context(), acting_as(Actor(label="anonymous", ip=ATTACKER_IP)):
        row = AuthorizationCode.objects.get(client_id=client.pk)
        result = authorization_code_redeem(
            code_id=row.pk, client=Client.objects.get(pk=client.pk), token={}
        )
    assert result.outcome is Redemption.REPLAYED
    (event,) = _events(tenant_a, action="security.code_replayed", object_id=client.client_id)
    assert event.ip == ATTACKER_IP
    assert event.changes == {"grant family": row.family_id, "user": str(user.pk)}


# --- Admins' sign-ins -------------------------------------------------------------------------


def _login(tenant, username, password, ip):
    web = tenant.client(REMOTE_ADDR=ip)
    web.get("/oauth/login")
    return post_form(web, "/oauth/login", {"username": username, "password": password})


def test_admin_sign_in_through_the_login_form_is_audited(tenant):
    admin = _staff_user(tenant)
    response = _login(tenant, admin.username, admin.raw_password, ADMIN_IP)
    assert response.status_code == 302
    (event,) = _events(tenant, action="admin.signed_in", object_id=str(admin.pk))
    assert (event.actor_id, event.actor_label, event.ip) == (
        str(admin.pk),
        admin.username,
        ADMIN_IP,
    )
    assert (event.object_type, event.object_label) == ("user", admin.username)
    assert event.changes == {"method": "password"}

    plain = make_user(tenant)
    assert _login(tenant, plain.username, plain.raw_password, ADMIN_IP).status_code == 302
    assert not _events(tenant, object_id=str(plain.pk), action__startswith="admin.")


def test_failed_admin_sign_in_is_audited_and_others_answer_the_same(tenant):
    admin = _staff_user(tenant)
    plain = make_user(tenant)
    wrong = remember_secret(f"wrong-{uuid.uuid4().hex}")
    before = _events(tenant, action="admin.sign_in_failed")

    failed = _login(tenant, admin.username, wrong, ATTACKER_IP)
    (event,) = _events(tenant, action="admin.sign_in_failed", object_id=str(admin.pk))
    assert (event.actor_id, event.actor_label, event.ip) == ("", "anonymous", ATTACKER_IP)
    assert (event.object_type, event.object_label) == ("user", admin.username)
    assert event.changes == {"method": "password"}

    nobody = _login(tenant, f"nobody-{uuid.uuid4().hex[:8]}", wrong, ATTACKER_IP)
    not_admin = _login(tenant, plain.username, wrong, ATTACKER_IP)
    for response in (failed, nobody, not_admin):
        assert response.status_code == 400
        assert b"The user name or password is not correct." in response.content
    after = _events(tenant, action="admin.sign_in_failed")
    assert len(after) == len(before) + 1
    assert not _events(tenant, object_id=str(plain.pk), action__startswith="admin.")


def test_console_handoff_sign_in_is_audited(tenant_a):
    from kernel.accounts.services import login_handoff_create

    admin = _admin(tenant_a)
    with tenant_a.context():
        token = remember_secret(login_handoff_create(user=admin))
    landed = tenant_a.client(REMOTE_ADDR=ADMIN_IP).post("/console/handoff/", {"token": token})
    assert landed.status_code == 302
    (event,) = _events(tenant_a, action="admin.signed_in", object_id=str(admin.pk))
    assert (event.actor_id, event.ip) == (str(admin.pk), ADMIN_IP)
    assert event.changes == {"method": "signup link"}
    again = tenant_a.client(REMOTE_ADDR=ADMIN_IP).post("/console/handoff/", {"token": token})
    assert again.status_code == 400
    assert len(_events(tenant_a, action="admin.signed_in", object_id=str(admin.pk))) == 1


# --- No secret in any row ---------------------------------------------------------------------


def test_no_secret_token_code_or_password_reaches_an_audit_row(tenant_a):
    """Every flow above in one schema, then every audit row of it, as JSON."""
    from kernel.accounts.services import login_handoff_create

    _reuse_refresh_token(tenant_a)
    _replay_code(tenant_a)
    admin = _staff_user(tenant_a)
    assert _login(tenant_a, admin.username, admin.raw_password, ADMIN_IP).status_code == 302
    wrong = remember_secret(f"wrong-{uuid.uuid4().hex}")
    assert _login(tenant_a, admin.username, wrong, ATTACKER_IP).status_code == 400
    with tenant_a.context():
        token = remember_secret(login_handoff_create(user=_admin(tenant_a)))
    assert tenant_a.client().post("/console/handoff/", {"token": token}).status_code == 302
    web = _console(tenant_a)
    assert _csrf_post(web, "/console/audit/retention/", {"retention_days": "45"}).status_code == 302

    with tenant_a.context():
        rows = list(AuditEvent.objects.values())
    actions = {row["action"] for row in rows}
    assert {
        "security.refresh_token_reused",
        "security.code_replayed",
        "admin.signed_in",
        "admin.sign_in_failed",
        "audit.retention_changed",
    } <= actions
    dump = json.dumps(rows, cls=DjangoJSONEncoder)
    assert len(secrets.all_secrets()) > 10
    assert secrets.leaks_in(dump) == []
    exports = b"".join(
        _body(web.get(f"/console/audit/export.{fmt}")) for fmt in ("csv", "jsonl")
    ).decode()
    assert secrets.leaks_in(exports) == []
