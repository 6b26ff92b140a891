"""The console's signing keys page: what each key signed last, "Rotate now" when it is safe,
otherwise when it will be and a forced rotation behind a confirmation."""

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db


def _staff_client(tenant, **kwargs):
    from kernel.accounts.models import User

    client = tenant.client(**kwargs)
    with tenant.context():
        client.force_login(User.objects.get(username=tenant.admin_username))
    return client


def _current(tenant) -> set[str]:
    from oauth.models import SigningKey

    with tenant.context():
        return set(SigningKey.objects.filter(state="current").values_list("kid", flat=True))


def _rotations(tenant):
    from kernel.audit.models import AuditEvent

    with tenant.context():
        return list(AuditEvent.objects.filter(action="keys.rotated").order_by("pk"))


def _served_after_the_next_keys(tenant):
    """The next keys were in every JWKS this tenant served."""
    from oauth.models import IssuerSettings

    with tenant.context():
        IssuerSettings.load()
        IssuerSettings.objects.update(jwks_first_served_at=timezone.now())


def test_rotate_now_when_safe_then_the_page_says_when_it_is_safe_again(tenant_a, tenant_b):
    _served_after_the_next_keys(tenant_a)
    client = _staff_client(tenant_a)
    page = client.get("/console/keys/").content.decode()
    assert 'id="rotation-ready"' in page and "Rotate now" in page
    before, before_b = _current(tenant_a), _current(tenant_b)

    done = client.post("/console/keys/")
    assert done.status_code == 302 and done["Location"] == "/console/keys/"
    after = _current(tenant_a)
    assert after and after.isdisjoint(before)
    [event] = _rotations(tenant_a)
    assert event.actor_label == tenant_a.admin_username
    assert event.changes["forced"]["new"] is False
    assert set(event.changes["current"]["new"].values()) == after

    page = client.get("/console/keys/").content.decode()  # PRG: a reload rotates nothing
    assert "Signing keys rotated" in page
    assert _current(tenant_a) == after
    # The new next keys were published after the JWKS was first served: wait jwks_max_age.
    wait = re.search(r'id="rotation-wait"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert "not yet safe" in wait and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", wait)
    assert 'href="/console/keys/force/"' in page and '<button type="submit">Rotate now' not in page
    assert _current(tenant_b) == before_b and _rotations(tenant_b) == []


def test_an_unsafe_rotation_needs_the_confirmation(tenant_a):
    client = _staff_client(tenant_a)  # the shared tenants' next keys came after their JWKS
    before = _current(tenant_a)
    refused = client.post("/console/keys/")
    assert refused.status_code == 302
    assert _current(tenant_a) == before and _rotations(tenant_a) == []
    page = client.get("/console/keys/").content.decode()
    assert "were not rotated" in page and " UTC." in page

    confirm = client.get("/console/keys/force/")
    assert confirm.status_code == 200
    assert b"Rotate the signing keys now?" in confirm.content
    assert b'name="force" value="1"' in confirm.content and b"UTC" in confirm.content
    assert _current(tenant_a) == before  # GET changes nothing

    forced = client.post("/console/keys/", {"force": "1"})
    assert forced.status_code == 302 and _current(tenant_a) != before
    [event] = _rotations(tenant_a)
    assert event.changes["forced"]["new"] is True


def test_keys_pages_need_an_admin_and_a_csrf_token(tenant_a):
    from kernel.accounts.services import user_create

    client = tenant_a.client()
    with tenant_a.context():
        plain = user_create(username="plain-k", password=remember_secret("plain-user-pw-123"))
        client.force_login(plain)
    before = _current(tenant_a)
    assert client.get("/console/keys/").status_code == 403
    assert client.get("/console/keys/force/").status_code == 403
    assert client.post("/console/keys/", {"force": "1"}).status_code == 403
    strict = _staff_client(tenant_a, enforce_csrf_checks=True)
    assert strict.post("/console/keys/", {"force": "1"}).status_code == 403
    assert _staff_client(tenant_a).post("/console/keys/force/").status_code == 405
    assert _current(tenant_a) == before and _rotations(tenant_a) == []


def test_last_signed_is_recorded_at_most_once_a_minute(
    tenant_a, tenant_b, django_capture_on_commit_callbacks
):
    from oauth.models import SigningKey
    from oauth.signing import services
    from oauth.signing.jws import sign_jwt

    services._recently_recorded.clear()
    with tenant_b.context():
        b_before = dict(SigningKey.objects.values_list("kid", "last_signed_at"))
    with tenant_a.context():
        with django_capture_on_commit_callbacks(execute=True) as first:
            sign_jwt({"sub": "u", "exp": int(time.time()) + 60})
        key = SigningKey.objects.get(state="current", alg="RS256")
        assert len(first) == 1 and key.last_signed_at is not None
        SigningKey.objects.filter(pk=key.pk).update(
            last_signed_at=key.last_signed_at - timedelta(minutes=5)
        )
        with django_capture_on_commit_callbacks(execute=True) as again:
            for _ in range(20):
                sign_jwt({"sub": "u", "exp": int(time.time()) + 60})
        assert again == []  # no write per token within the minute
        stamped = SigningKey.objects.get(pk=key.pk).last_signed_at
    page = _staff_client(tenant_a).get("/console/keys/").content.decode()
    assert timezone.localtime(stamped).strftime("%Y-%m-%d %H:%M UTC") in page
    assert "not yet signing" in page
    with tenant_b.context():
        assert dict(SigningKey.objects.values_list("kid", "last_signed_at")) == b_before
