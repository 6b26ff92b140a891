"""Public signup -> one-time handoff -> the new tenant's console, and its throttle."""

import re

import pytest
from django.conf import settings

from tenants.views import signup_limit
from tests.support.secrets import remember_secret
from tests.support.tenants import https_client

pytestmark = pytest.mark.django_db

PASSWORD = "signup-password-Zq81"


def _signup(default_slug: str, *, client=None, **overrides):
    remember_secret(PASSWORD)
    client = client or https_client(settings.GATEHOUSE_BASE_DOMAIN)
    slug = overrides.get("slug", default_slug)
    data = {
        "name": f"{slug.title()} Org",
        "slug": slug,
        "email": f"owner@{slug}.test",
        "password": PASSWORD,
        "password_again": PASSWORD,
        **overrides,
    }
    return client.post("/signup/", data)


@pytest.fixture(autouse=True)
def _no_signup_throttle_carry_over():
    signup_limit().reset("127.0.0.1")
    yield
    signup_limit().reset("127.0.0.1")


def _use_up_signups(ip: str) -> None:
    limit = signup_limit()
    for _ in range(limit.limit):
        limit.hit(ip)


def _handoff_token(page) -> str:
    match = re.search(r'name="token" value="([^"]+)"', page.content.decode())
    assert match, page.content
    return remember_secret(match.group(1))


def test_signup_provisions_and_hands_over_to_the_console_once():
    page = _signup("newco")
    assert page.status_code == 200
    assert b"https://newco.gatehouse.test/console/handoff/" in page.content
    assert page["Referrer-Policy"] == "no-referrer"
    token = _handoff_token(page)

    console = https_client("newco.gatehouse.test")
    landed = console.post("/console/handoff/", {"token": token})
    assert landed.status_code == 302 and landed["Location"] == "/console/"
    home = console.get("/console/")
    assert home.status_code == 200 and b"Newco Org" in home.content
    assert b"https://newco.gatehouse.test/.well-known/openid-configuration" in home.content

    replay = https_client("newco.gatehouse.test").post("/console/handoff/", {"token": token})
    assert replay.status_code == 400 and b"expired" in replay.content


def test_handoff_token_means_nothing_at_another_tenant(tenant_b):
    token = _handoff_token(_signup("otherco"))
    elsewhere = tenant_b.client().post("/console/handoff/", {"token": token})
    assert elsewhere.status_code == 400
    # and it still works where it belongs
    home = https_client("otherco.gatehouse.test").post("/console/handoff/", {"token": token})
    assert home.status_code == 302


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"slug": "www"}, b"reserved"),
        ({"slug": "alpha"}, b"already exists"),
        ({"slug": "x"}, b"invalid slug"),
        ({"password_again": "something-else-1"}, b"The two passwords differ"),
        ({"password": "short", "password_again": "short"}, b"password"),
    ],
)
def test_signup_refusals_are_readable(overrides, says, two_tenants):
    page = _signup("refused", **overrides)
    assert page.status_code == 400
    assert says in page.content


def test_signup_form_is_csrf_protected():
    client = https_client(settings.GATEHOUSE_BASE_DOMAIN, enforce_csrf_checks=True)
    assert client.get("/signup/").status_code == 200
    refused = _signup("nocsrf", client=client)
    assert refused.status_code == 403


def test_signup_throttled_per_ip():
    _use_up_signups("127.0.0.1")
    try:
        page = _signup("throttled")
        assert page.status_code == 429 and page["Retry-After"]
    finally:
        signup_limit().reset("127.0.0.1")


def test_signup_throttle_is_per_client_behind_the_ingress(settings):
    """Behind one trusted proxy, the limit applies to each client IP, not to the ingress."""
    settings.GATEHOUSE = {**settings.GATEHOUSE, "TRUSTED_PROXY_COUNT": 1}
    _use_up_signups("203.0.113.9")
    try:
        ingress = {"REMOTE_ADDR": "10.0.0.1"}
        blocked = https_client(
            settings.GATEHOUSE_BASE_DOMAIN, HTTP_X_FORWARDED_FOR="203.0.113.9", **ingress
        )
        assert _signup("viaproxy", client=blocked).status_code == 429
        other = https_client(
            settings.GATEHOUSE_BASE_DOMAIN, HTTP_X_FORWARDED_FOR="198.51.100.7", **ingress
        )
        assert _signup("viaproxy", client=other).status_code == 200
    finally:
        signup_limit().reset("203.0.113.9")
        signup_limit().reset("198.51.100.7")
