"""The tenant admin console: only this tenant's admins, CSRF on every form, and every
write through a service."""

import re

import pytest

from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db


def _staff_client(tenant):
    from kernel.accounts.models import User

    client = tenant.client()
    with tenant.context():
        client.force_login(User.objects.get(username=tenant.admin_username))
    return client


def test_console_requires_a_signed_in_admin_of_this_tenant(tenant_a, tenant_b):
    from kernel.accounts.services import user_create

    anonymous = tenant_a.client().get("/console/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/oauth/login?next=/console/")

    with tenant_a.context():
        plain = user_create(username="plain", password=remember_secret("plain-user-pw-123"))
    client = tenant_a.client()
    client.force_login(plain)
    assert client.get("/console/").status_code == 403

    admin_a = _staff_client(tenant_a)
    assert admin_a.get("/console/").status_code == 200
    at_b = tenant_b.client()
    at_b.cookies = admin_a.cookies  # the same browser's cookies, replayed at tenant B
    assert at_b.get("/console/").status_code == 302  # anonymous there


def test_console_registers_a_client_that_works_only_in_its_tenant(tenant_a, tenant_b):
    client = _staff_client(tenant_a)
    page = client.post(
        "/console/clients/", {"name": "Billing API", "kind": "service", "scopes": "api"}
    )
    assert page.status_code == 200, page.content
    client_id = re.search(rb'id="new-client-id">([^<]+)<', page.content).group(1).decode()
    secret = remember_secret(
        re.search(rb'id="new-client-secret">([^<]+)<', page.content).group(1).decode()
    )
    assert b"Shown once" in page.content
    assert secret.encode() not in client.get("/console/clients/").content

    ok = _token(tenant_a, client_id, secret)
    assert ok.status_code == 200
    remember_secret(ok.json()["access_token"])
    other = _token(tenant_b, client_id, secret)
    assert other.status_code == 401
    assert b"Billing API" not in _staff_client(tenant_b).get("/console/clients/").content


def test_console_client_secret_rotation_and_disable(tenant_a):
    from oauth.models import Client

    client = _staff_client(tenant_a)
    page = client.post("/console/clients/", {"name": "Rotating", "kind": "service"})
    client_id = re.search(rb'id="new-client-id">([^<]+)<', page.content).group(1).decode()
    old = remember_secret(
        re.search(rb'id="new-client-secret">([^<]+)<', page.content).group(1).decode()
    )
    rotated = client.post(f"/console/clients/{client_id}/rotate-secret/", {"grace_seconds": "0"})
    new = remember_secret(
        re.search(rb'id="new-client-secret">([^<]+)<', rotated.content).group(1).decode()
    )
    assert new != old
    assert _token(tenant_a, client_id, old).status_code == 401
    fresh = _token(tenant_a, client_id, new)
    assert fresh.status_code == 200
    remember_secret(fresh.json()["access_token"])

    client.post(f"/console/clients/{client_id}/toggle/", {"disabled": "1"})
    with tenant_a.context():
        assert Client.objects.get(client_id=client_id).disabled
    assert _token(tenant_a, client_id, new).status_code == 401


def test_console_users_and_keys(tenant_a, tenant_b):
    from kernel.accounts.models import User
    from oauth.models import SigningKey

    client = _staff_client(tenant_a)
    created = client.post(
        "/console/users/",
        {
            "username": "carol",
            "email": "carol@alpha.test",
            "password": remember_secret("carol-pw-Long-1"),
        },
    )
    assert created.status_code == 302
    listing = client.get("/console/users/?q=carol")
    assert b"carol@alpha.test" in listing.content
    with tenant_b.context():
        assert not User.objects.filter(username="carol").exists()

    with tenant_a.context():
        before = set(SigningKey.objects.filter(state="current").values_list("kid", flat=True))
    client.post("/console/keys/", {"force": "1"})
    with tenant_a.context():
        after = set(SigningKey.objects.filter(state="current").values_list("kid", flat=True))
    assert after and after != before
    assert b"retiring" in client.get("/console/keys/").content


def test_console_forms_are_csrf_protected(tenant_a):
    from kernel.accounts.models import User

    client = tenant_a.client(enforce_csrf_checks=True)
    with tenant_a.context():
        client.force_login(User.objects.get(username=tenant_a.admin_username))
    assert client.post("/console/clients/", {"name": "x", "kind": "service"}).status_code == 403
    assert client.post("/console/keys/", {"force": "1"}).status_code == 403


def _token(tenant, client_id: str, secret: str):
    from urllib.parse import urlencode

    return tenant.client().post(
        "/oauth/token",
        urlencode({"grant_type": "client_credentials"}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=_basic(client_id, secret),
    )


def _basic(client_id: str, secret: str) -> str:
    import base64
    from urllib.parse import quote

    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def test_console_answers_nul_bytes_without_a_500(tenant_a):
    client = _staff_client(tenant_a)
    assert client.get("/console/users/", {"q": "\x00"}).status_code == 200
    assert client.post("/console/clients/%00/toggle/").status_code == 404
    assert client.post("/console/clients/%00/rotate-secret/").status_code == 404


def test_a_signed_in_non_admin_gets_a_styled_403_with_a_way_to_switch_account(tenant_a):
    from kernel.accounts.services import user_create

    client = tenant_a.client()
    with tenant_a.context():
        plain = user_create(username="not-an-admin", password=remember_secret("plain-user-pw-456"))
        client.force_login(plain)
    page = client.get("/console/clients/")
    assert page.status_code == 403
    html = page.content.decode()
    assert "not-an-admin" in html and "not an admin of this organisation" in html
    assert 'href="/oauth/login?next=/console/clients/"' in html
    assert 'action="/oauth/logout/confirm"' in html and "csrfmiddlewaretoken" in html
    assert page["Content-Security-Policy"] == "frame-ancestors 'none'"
