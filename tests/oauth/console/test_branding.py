"""Branding: checked logo uploads stored in the tenant's schema, served only on its host,
shown (with the display name and colour) on that tenant's pages and no other's."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.oauth.console.images import GIF, JPEG, SVG, WEBP, png
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db


def _staff_client(tenant, **kwargs):
    from kernel.accounts.models import User

    client = tenant.client(**kwargs)
    with tenant.context():
        client.force_login(User.objects.get(username=tenant.admin_username))
    return client


def _upload(client, data=None, name="logo.png", content_type="image/png", **fields):
    form = {"display_name": "Alpha Identity", "primary_colour": "#C81E3C", **fields}
    if data is not None:
        form["logo"] = SimpleUploadedFile(name, data, content_type=content_type)
    return client.post("/console/settings/branding/", form)


def _branding(tenant):
    from oauth.models import Branding

    with tenant.context():
        return Branding.load()


def _audit(tenant):
    from kernel.audit.models import AuditEvent

    with tenant.context():
        return list(AuditEvent.objects.filter(action="branding.updated").order_by("pk"))


def test_branding_is_stored_audited_and_shown_on_this_tenants_pages(tenant_a, tenant_b):
    client = _staff_client(tenant_a)
    logo = png()
    saved = _upload(client, logo)
    assert saved.status_code == 302 and saved["Location"] == "/console/settings/"
    row = _branding(tenant_a)
    assert bytes(row.logo) == logo and row.logo_content_type == "image/png"
    assert row.primary_colour == "#c81e3c"
    [event] = _audit(tenant_a)
    assert event.actor_label == tenant_a.admin_username
    assert event.changes["display_name"] == {"old": "", "new": "Alpha Identity"}
    assert event.changes["logo"]["new"].startswith(f"image/png, {len(logo)} bytes, sha256 ")

    login = tenant_a.client().get("/oauth/login").content.decode()
    assert '<strong id="brand-name">Alpha Identity</strong>' in login
    version = row.logo_sha256[:16]
    assert f'src="/branding/logo?v={version}"' in login
    assert "--pico-primary: #c81e3c;" in login
    assert "--pico-primary-inverse: #fff;" in login
    # Error pages are rendered with the request, so they are branded too.
    missing = tenant_a.client().get("/no-such-page/")
    assert missing.status_code == 404 and b"Alpha Identity" in missing.content

    other = tenant_b.client().get("/oauth/login").content.decode()
    assert "Alpha Identity" not in other and "branding/logo" not in other
    assert "--pico-primary:" not in other
    assert _audit(tenant_b) == []


def test_the_logo_is_served_safely_and_only_on_its_tenants_host(tenant_a, tenant_b):
    _upload(_staff_client(tenant_a), png())
    served = tenant_a.client().get("/branding/logo")
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served["Content-Security-Policy"]
    assert served.content == png()
    etag = served["ETag"]
    again = tenant_a.client().get("/branding/logo", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert tenant_a.client().post("/branding/logo").status_code == 405

    assert tenant_b.client().get("/branding/logo").status_code == 404
    assert tenant_b.client().get("/branding/logo", HTTP_IF_NONE_MATCH=etag).status_code == 404


@pytest.mark.parametrize(
    ("data", "name", "content_type", "message"),
    [
        (png()[:8] + b"\x00" * (256 * 1024), "big.png", "image/png", b"at most 256 KB"),
        (GIF, "logo.gif", "image/gif", b"not a PNG, JPEG or WebP image"),
        (SVG, "logo.png", "image/png", b"not a PNG, JPEG or WebP image"),  # SVG posing as PNG
        (SVG, "logo.svg", "image/svg+xml", b"SVG is not accepted"),
        (b"", "empty.png", "image/png", b"The submitted file is empty"),
    ],
)
def test_bad_logos_are_refused_with_a_field_error(tenant_a, data, name, content_type, message):
    page = _upload(_staff_client(tenant_a), data, name=name, content_type=content_type)
    assert page.status_code == 400
    assert message in page.content
    assert re.search(rb'<small class="error" role="alert">[^<]*(image|KB|empty)', page.content)
    assert _branding(tenant_a).logo_sha256 == ""
    assert _audit(tenant_a) == []


@pytest.mark.parametrize("colour", ["red", "#fff", "#12345g", "#123456;}", "\x00", "#" + "a" * 99])
def test_only_hex_colours_are_accepted(tenant_a, colour):
    page = _upload(_staff_client(tenant_a), primary_colour=colour)
    assert page.status_code == 400
    assert (
        b"six hex digits" in page.content
        or b"at most 7 characters" in page.content
        or (b"Null characters" in page.content)
    )
    assert _branding(tenant_a).primary_colour == ""


@pytest.mark.parametrize(("data", "content_type"), [(JPEG, "image/jpeg"), (WEBP, "image/webp")])
def test_jpeg_and_webp_are_stored_with_their_own_type(tenant_a, data, content_type):
    # The browser's claim is ignored: the type comes from the bytes.
    assert _upload(_staff_client(tenant_a), data, content_type="image/png").status_code == 302
    assert tenant_a.client().get("/branding/logo")["Content-Type"] == content_type


def test_removing_the_logo_and_an_unchanged_save(tenant_a):
    client = _staff_client(tenant_a)
    _upload(client, png())
    assert _upload(client).status_code == 302  # no new file: the logo stays, nothing to audit
    assert len(_audit(tenant_a)) == 1 and _branding(tenant_a).logo_sha256
    assert _upload(client, remove_logo="on").status_code == 302
    assert _branding(tenant_a).logo_sha256 == ""
    assert _audit(tenant_a)[-1].changes["logo"]["new"] == ""
    assert tenant_a.client().get("/branding/logo").status_code == 404
    assert b"branding/logo" not in tenant_a.client().get("/oauth/login").content


def test_branding_needs_an_admin_and_a_csrf_token(tenant_a):
    from kernel.accounts.services import user_create

    client = tenant_a.client()
    with tenant_a.context():
        plain = user_create(username="plain-b", password=remember_secret("plain-user-pw-123"))
        client.force_login(plain)
    assert _upload(client, png()).status_code == 403
    assert _upload(_staff_client(tenant_a, enforce_csrf_checks=True), png()).status_code == 403
    assert tenant_a.client().get("/console/settings/branding/").status_code == 302
    assert _staff_client(tenant_a).get("/console/settings/branding/").status_code == 405
    assert _branding(tenant_a).logo_sha256 == ""


def test_the_public_host_is_never_branded(tenant_a, public_client):
    _upload(_staff_client(tenant_a), png())
    page = public_client.get("/signup/")
    assert page.status_code == 200 and b"Alpha Identity" not in page.content
    assert public_client.get("/branding/logo").status_code == 404


def test_existing_tenants_get_their_clients_scopes_allowed(tenant_a):
    """Migration 0005 for a tenant that existed before allowed scopes did."""
    import importlib

    from django.apps import apps

    from oauth.models import IssuerSettings
    from tests.support.factories import make_client

    make_client(tenant_a, scopes=["api", "read"])
    migration = importlib.import_module("oauth.migrations.0005_issuer_settings_console")
    with tenant_a.context():
        migration.existing_tenants_forward(apps, None)
        row = IssuerSettings.load()
    assert row.scopes_supported[:4] == ["openid", "profile", "email", "offline_access"]
    assert {"api", "read"} <= set(row.scopes_supported)
    assert row.jwks_first_served_at is not None
