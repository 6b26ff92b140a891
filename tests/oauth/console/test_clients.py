"""The console's client pages: list and search, detail, edit with the registration rules,
secret rotation with an overlap, disable and enable, delete; each write audited, each page
walled in by tenant, CSRF-protected, and safe against reloads and odd input."""

import json
import re
from datetime import timedelta

import pytest

from tests.oauth.console.test_console import _staff_client, _token
from tests.support.factories import make_client, make_web_client, user_tokens
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

_ONCE = re.compile(rb'name="once" value="([^"]+)"')


def _secret_of(page) -> str:
    found = re.search(rb'id="new-client-secret">([^<]+)<', page.content)
    assert found, page.content[:2000]
    return remember_secret(found.group(1).decode())


def _events(tenant, action: str, object_id: str):
    from kernel.audit.models import AuditEvent

    with tenant.context():
        return list(AuditEvent.objects.filter(action=action, object_id=object_id))


def _edit_data(**changes) -> dict:
    data = {
        "name": "Portal",
        "auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": "https://portal.example.com/cb",
        "post_logout_redirect_uris": "",
        "scopes": "openid api",
        "default_scopes": "",
        "resources": "",
        "cors_origins": "",
        "access_token_format": "opaque",
        "access_token_lifetime": "",
        "refresh_token_lifetime": "",
        "id_token_signed_response_alg": "RS256",
    }
    data.update(changes)
    return data


def test_list_searches_by_name_and_client_id_and_pages(tenant_a):
    admin = _staff_client(tenant_a)
    findable = make_client(tenant_a, name="Zebra ledger")
    make_client(tenant_a, name="Other thing")
    by_name = admin.get("/console/clients/", {"q": "zebra"})
    assert b"Zebra ledger" in by_name.content and b"Other thing" not in by_name.content
    by_id = admin.get("/console/clients/", {"q": findable.client_id[:12]})
    assert b"Zebra ledger" in by_id.content and b"Other thing" not in by_id.content
    for odd in ("\x00", "x" * 5000, "%00"):
        assert admin.get("/console/clients/", {"q": odd, "page": odd}).status_code == 200
    assert admin.get("/console/clients/", {"page": "99999"}).status_code == 200


def test_detail_shows_everything_registered_and_when_last_used(tenant_a):
    web = make_web_client(
        tenant_a,
        name="Detailed",
        post_logout_redirect_uris=["https://app.example.com/bye"],
        cors_origins=["https://app.example.com"],
        resources=["https://api.example.com"],
        access_token_lifetime=600,
        access_token_format="jwt",
        id_token_signed_response_alg="ES256",
    )
    admin = _staff_client(tenant_a)
    page = admin.get(f"/console/clients/{web.client_id}/")
    assert page.status_code == 200
    body = page.content.decode()
    for shown in (
        "Confidential",
        "client_secret_basic",
        "authorization_code, refresh_token",
        "https://app.example.com/callback",
        "https://app.example.com/bye",
        "https://app.example.com",
        "https://api.example.com",
        "JWT (RFC 9068)",
        "600 s",
        "ES256",
        "UTC",
        "not recently",
    ):
        assert shown in body, shown
    user_tokens(tenant_a, web)
    assert "not recently" not in admin.get(f"/console/clients/{web.client_id}/").content.decode()


def test_another_tenants_client_is_not_found(tenant_a, tenant_b):
    theirs = make_client(tenant_b, name="Bravo only")
    admin_a = _staff_client(tenant_a)
    base = f"/console/clients/{theirs.client_id}"
    for url in ("/", "/edit/", "/rotate-secret/", "/delete/"):
        assert admin_a.get(base + url).status_code == 404, url
    for url, data in (
        ("/edit/", _edit_data()),
        ("/rotate-secret/", {"grace_seconds": "0"}),
        ("/toggle/", {"disabled": "1"}),
        ("/delete/", {"confirm": theirs.client_id}),
    ):
        assert admin_a.post(base + url, data).status_code == 404, url
    with tenant_b.context():
        from oauth.models import Client

        row = Client.objects.get(client_id=theirs.client_id)
        assert not row.disabled and row.name == "Bravo only"


def test_a_non_admin_gets_403_on_every_client_page(tenant_a):
    from tests.support.factories import make_user, signed_in

    registered = make_client(tenant_a)
    web = signed_in(tenant_a, make_user(tenant_a))
    base = f"/console/clients/{registered.client_id}"
    for url in ("/", "/edit/", "/rotate-secret/", "/delete/"):
        assert web.get(base + url).status_code == 403
    assert web.post(base + "/toggle/", {"disabled": "1"}).status_code == 403


def test_every_client_form_is_csrf_protected(tenant_a):
    from kernel.accounts.models import User

    registered = make_client(tenant_a)
    web = tenant_a.client(enforce_csrf_checks=True)
    with tenant_a.context():
        web.force_login(User.objects.get(username=tenant_a.admin_username))
    base = f"/console/clients/{registered.client_id}"
    for url, data in (
        ("/edit/", _edit_data()),
        ("/rotate-secret/", {"grace_seconds": "0"}),
        ("/toggle/", {"disabled": "1"}),
        ("/delete/", {"confirm": registered.client_id}),
    ):
        assert web.post(base + url, data).status_code == 403, url
    assert _events(tenant_a, "client.deleted", registered.client_id) == []


def test_registration_is_audited_and_a_reload_registers_nothing_more(tenant_a):
    from oauth.models import Client

    admin = _staff_client(tenant_a)
    form = admin.get("/console/clients/")
    once = _ONCE.search(form.content).group(1).decode()
    data = {"name": "Reloaded", "kind": "service", "scopes": "api", "once": once}
    first = admin.post("/console/clients/", data)
    secret = _secret_of(first)
    again = admin.post("/console/clients/", data)
    assert again.status_code == 302
    assert secret.encode() not in admin.get(again["Location"]).content
    with tenant_a.context():
        rows = list(Client.objects.filter(name="Reloaded"))
    assert len(rows) == 1
    (event,) = _events(tenant_a, "client.created", rows[0].client_id)
    assert event.actor_label == tenant_a.admin_username and event.actor_id
    assert event.changes["scopes"] == {"old": None, "new": ["api"]}
    assert secret not in json.dumps(event.changes)
    assert rows[0].secret_digest not in json.dumps(event.changes)


def test_registration_errors_sit_next_to_the_field_in_web_words(tenant_a):
    admin = _staff_client(tenant_a)
    page = admin.post("/console/clients/", {"name": "No URI", "kind": "web", "scopes": "api"})
    assert page.status_code == 400
    body = page.content.decode()
    assert "Add at least one redirect URI" in body
    assert "--" not in re.sub(r"<!--.*?-->", "", body).split("Register a client")[1]


def test_edit_changes_every_field_with_the_registration_rules(tenant_a):
    from oauth.models import Client

    web = make_web_client(tenant_a, name="Portal", scopes=["openid", "api"])
    admin = _staff_client(tenant_a)
    url = f"/console/clients/{web.client_id}/edit/"
    form = admin.get(url)
    assert form.status_code == 200 and b"https://app.example.com/callback" in form.content

    bad = admin.post(url, _edit_data(redirect_uris="http://portal.example.com/cb"))
    assert bad.status_code == 400
    assert b"must be https" in bad.content
    none = admin.post(url, _edit_data(redirect_uris=""))
    assert b"Add at least one redirect URI" in none.content and b"--redirect" not in none.content
    unknown_default = admin.post(url, _edit_data(default_scopes="email"))
    assert b"Default scopes must be among" in unknown_default.content

    saved = admin.post(
        url,
        _edit_data(
            name="Portal 2",
            auth_method="client_secret_post",
            redirect_uris="https://portal.example.com/cb\nhttps://portal.example.com/cb2",
            post_logout_redirect_uris="https://portal.example.com/bye",
            default_scopes="api",
            cors_origins="https://portal.example.com",
            resources="https://api.example.com",
            access_token_format="jwt",
            access_token_lifetime="900",
            refresh_token_lifetime="86400",
            id_token_signed_response_alg="ES256",
            can_introspect="on",
        ),
    )
    assert saved.status_code == 302 and saved["Location"] == f"/console/clients/{web.client_id}/"
    with tenant_a.context():
        row = Client.objects.get(client_id=web.client_id)
    assert row.name == "Portal 2" and row.token_endpoint_auth_method == "client_secret_post"
    assert row.redirect_uris == ["https://portal.example.com/cb", "https://portal.example.com/cb2"]
    assert row.post_logout_redirect_uris == ["https://portal.example.com/bye"]
    assert row.default_scopes == ["api"] and row.cors_origins == ["https://portal.example.com"]
    assert row.resources == ["https://api.example.com"] and row.access_token_format == "jwt"
    assert (row.access_token_lifetime, row.refresh_token_lifetime) == (900, 86400)
    assert row.id_token_signed_response_alg == "ES256" and row.can_introspect
    assert row.updated_at > row.created_at

    (event,) = _events(tenant_a, "client.updated", web.client_id)
    assert event.changes["name"] == {"old": "Portal", "new": "Portal 2"}
    assert event.changes["access_lifetime"] == {"old": None, "new": 900}
    assert "type" not in event.changes and web.secret not in json.dumps(event.changes)
    # The same form again changes nothing and records nothing.
    admin.post(url, admin.get(url).context["form"].initial | {"grant_types": row.grant_types})
    assert len(_events(tenant_a, "client.updated", web.client_id)) == 1


def test_edit_refuses_to_swap_public_and_confidential(tenant_a):
    web = make_web_client(tenant_a, name="Portal")
    admin = _staff_client(tenant_a)
    page = admin.post(f"/console/clients/{web.client_id}/edit/", _edit_data(auth_method="none"))
    assert page.status_code == 400
    assert b"register a new client" in page.content
    assert _events(tenant_a, "client.updated", web.client_id) == []


def test_edit_answers_odd_input_without_a_500(tenant_a):
    web = make_web_client(tenant_a, name="Portal")
    admin = _staff_client(tenant_a)
    url = f"/console/clients/{web.client_id}/edit/"
    for odd in (
        {"name": "a\x00b"},
        {"redirect_uris": "https://a.example/\x00"},
        {"redirect_uris": "https://a.example/" + "x" * 30_000},
        {"access_token_lifetime": "9" * 40},
        {"access_token_lifetime": "-1"},
        {"grant_types": ["implicit"]},
        {"auth_method": "\x00"},
        {"scopes": "a\x00b"},
        {"redirect_uris": "https://[::1"},
    ):
        assert admin.post(url, _edit_data(**odd)).status_code == 400, odd
    assert admin.get("/console/clients/%00/").status_code == 404
    assert admin.get("/console/clients/" + "x" * 5000 + "/").status_code == 404


def test_rotation_keeps_the_old_secret_for_the_chosen_overlap(tenant_a):
    from oauth.models import Client

    service = make_client(tenant_a, name="Rotating")
    admin = _staff_client(tenant_a)
    url = f"/console/clients/{service.client_id}/rotate-secret/"
    form = admin.get(url)
    assert form.status_code == 200 and b"24 hours" in form.content
    once = _ONCE.search(form.content).group(1).decode()
    rotated = admin.post(url, {"grace_seconds": "-1", "custom_seconds": "120", "once": once})
    new = _secret_of(rotated)
    assert b"keeps working until" in rotated.content
    again = admin.post(url, {"grace_seconds": "0", "once": once})  # a reload: nothing happens
    assert again.status_code == 302
    for secret in (service.secret, new):
        ok = _token(tenant_a, service.client_id, secret)
        assert ok.status_code == 200
        remember_secret(ok.json()["access_token"])
    detail = admin.get(f"/console/clients/{service.client_id}/").content.decode()
    assert "still works until" in detail and new not in detail

    (event,) = _events(tenant_a, "client.secret_rotated", service.client_id)
    assert event.changes["grace_seconds"] == 120
    assert new not in json.dumps(event.changes)

    with tenant_a.context():
        row = Client.objects.get(client_id=service.client_id)
        row.previous_secret_expires_at -= timedelta(seconds=121)
        row.save(update_fields=["previous_secret_expires_at"])
    assert _token(tenant_a, service.client_id, service.secret).status_code == 401
    assert "stopped at" in admin.get(f"/console/clients/{service.client_id}/").content.decode()


def test_rotation_defaults_to_a_day_and_zero_stops_the_old_secret_at_once(tenant_a):
    service = make_client(tenant_a, name="Default overlap")
    admin = _staff_client(tenant_a)
    url = f"/console/clients/{service.client_id}/rotate-secret/"
    form = admin.get(url)
    assert re.search(rb'<option value="86400" selected>', form.content)
    new = _secret_of(admin.post(url, {"grace_seconds": "0"}))
    assert _token(tenant_a, service.client_id, service.secret).status_code == 401
    ok = _token(tenant_a, service.client_id, new)
    assert ok.status_code == 200
    remember_secret(ok.json()["access_token"])
    bad = admin.post(url, {"grace_seconds": "-1", "custom_seconds": str(10**12)})
    assert bad.status_code == 400


def test_disable_and_enable_are_idempotent_and_audited(tenant_a):
    service = make_client(tenant_a, name="Switch")
    admin = _staff_client(tenant_a)
    url = f"/console/clients/{service.client_id}/toggle/"
    assert admin.post(url, {"disabled": "1"}).status_code == 302
    admin.post(url, {"disabled": "1"})
    assert _token(tenant_a, service.client_id, service.secret).status_code == 401
    assert len(_events(tenant_a, "client.disabled", service.client_id)) == 1
    admin.post(url, {"disabled": "0"})
    (enabled,) = _events(tenant_a, "client.enabled", service.client_id)
    assert enabled.changes == {"disabled": {"old": True, "new": False}}
    ok = _token(tenant_a, service.client_id, service.secret)
    assert ok.status_code == 200
    remember_secret(ok.json()["access_token"])
    assert admin.post(url, {}).status_code == 302  # no target state: nothing changes
    assert len(_events(tenant_a, "client.enabled", service.client_id)) == 1


def test_delete_asks_first_then_takes_tokens_codes_and_consents_with_it(tenant_a):
    from oauth.models import Client, Consent, GrantFamily, Token
    from tests.support.factories import active

    web = make_web_client(tenant_a, name="Doomed")
    tokens = user_tokens(tenant_a, web)
    admin = _staff_client(tenant_a)
    url = f"/console/clients/{web.client_id}/delete/"
    confirm = admin.get(url)
    assert confirm.status_code == 200 and b"1 live token" in confirm.content
    with tenant_a.context():
        assert Client.objects.filter(client_id=web.client_id).exists()
    done = admin.post(url, {"confirm": web.client_id})
    assert done.status_code == 302 and done["Location"] == "/console/clients/"
    with tenant_a.context():
        assert not Client.objects.filter(client_id=web.client_id).exists()
        assert not Token.objects.filter(client_id=web.pk).exists()
        assert not GrantFamily.objects.filter(client_id=web.pk).exists()
        assert not Consent.objects.filter(client_id=web.pk).exists()
    assert not active(tenant_a, tokens["access_token"])
    assert admin.post(url, {"confirm": web.client_id}).status_code == 404  # a repeat: gone
    (event,) = _events(tenant_a, "client.deleted", web.client_id)
    assert event.actor_label == tenant_a.admin_username
    assert event.changes["name"] == {"old": "Doomed", "new": None}


def test_last_used_reads_the_first_entry_of_the_client_issued_index(tenant_a):
    from django.db import connection

    from oauth.models import Client, Token

    web = make_web_client(tenant_a)
    with tenant_a.context():
        client = Client.objects.get(pk=web.pk)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = Token.objects.filter(client=client).order_by("-issued_at")[:1].explain()
    assert "oauth_token_client_issued" in plan
    assert "Sort" not in plan
