"""Client ID Metadata Documents: a client_id that is an https URL, fetched by the SSRF-safe
fetcher (oauth.fetch) from a real https server on loopback (the development allowance on)."""

from __future__ import annotations

import json

import pytest

from tests.oauth.registration.docserver import Route
from tests.oauth.registration.helpers import LOOPBACK_REDIRECT, set_policy
from tests.support.factories import (
    RegisteredClient,
    authorize_params,
    exchange_code,
    get_code,
    make_user,
    pkce_pair,
    remember_tokens,
    signed_in,
)

pytestmark = pytest.mark.django_db


def _document(url: str, **extra) -> dict:
    document = {
        "client_id": url,
        "client_name": "Doc Client",
        "redirect_uris": [LOOPBACK_REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "api read",
    }
    document.update(extra)
    return document


def _published(docserver, **extra) -> str:
    path = docserver.new_path()
    url = docserver.url(path)
    docserver.serve_json(path, _document(url, **extra), **{"Cache-Control": "max-age=300"})
    return url


def _hits(docserver, url: str) -> int:
    return docserver.hits.get(url.split(str(docserver.port), 1)[1], 0)


def _authorize(tenant, client_id: str, redirect_uri: str = LOOPBACK_REDIRECT):
    web = signed_in(tenant, make_user(tenant))
    _verifier, challenge = pkce_pair()
    client = RegisteredClient(client_id, None, 0, tenant, [redirect_uri])
    return web.get("/oauth/authorize", authorize_params(client, challenge))


@pytest.fixture
def documents_on(tenant_a, fetch_settings):
    set_policy(tenant_a, documents="any")


def test_discovery_advertises_documents_when_enabled(tenant_a, documents_on):
    doc = tenant_a.client().get("/.well-known/oauth-authorization-server").json()
    assert doc["client_id_metadata_document_supported"] is True
    assert "registration_endpoint" not in doc  # RFC 7591 stays off


def test_a_document_client_completes_code_with_pkce(tenant_a, documents_on, docserver):
    from oauth.models import Client

    url = _published(docserver)
    client = RegisteredClient(url, None, 0, tenant_a, [LOOPBACK_REDIRECT])
    verifier, challenge = pkce_pair()
    web = signed_in(tenant_a, make_user(tenant_a))
    code = get_code(tenant_a, web, client, challenge)
    response = exchange_code(tenant_a, client, code, verifier)
    assert response.status_code == 200, response.content
    tokens = remember_tokens(response.json())
    assert tokens["scope"] == "api read"
    assert _hits(docserver, url) == 1  # authorize, consent and token: one fetch
    with tenant_a.context():
        row = Client.objects.get(client_id=url)
    assert row.registration == Client.Registration.DOCUMENT and row.is_public
    assert row.name == "Doc Client"


def _refused(response, words: str) -> None:
    assert response.status_code == 400, response.content
    assert words in response.content.decode(), response.content.decode()


def test_a_mismatched_client_id_is_refused_and_not_fetched_again(tenant_a, documents_on, docserver):
    path = docserver.new_path()
    url = docserver.serve_json(path, _document("https://someone.else.example/client.json"))
    _refused(_authorize(tenant_a, url), "client_id is not the URL")
    _refused(_authorize(tenant_a, url), "client_id is not the URL")
    assert _hits(docserver, url) == 1


def test_a_redirect_uri_not_in_the_document_is_refused(tenant_a, documents_on, docserver):
    url = _published(docserver)
    _refused(_authorize(tenant_a, url, "http://127.0.0.1/elsewhere"), "redirect URI is not")


def test_the_document_is_validated_like_a_registration(tenant_a, documents_on, docserver):
    url = _published(docserver, token_endpoint_auth_method="client_secret_basic")
    _refused(_authorize(tenant_a, url), "must be none")
    url = _published(docserver, redirect_uris=["http://app.example.com/cb"])
    _refused(_authorize(tenant_a, url, "http://app.example.com/cb"), "redirect URI")


def test_a_document_on_a_private_address_is_refused(tenant_a, documents_on, docserver):
    _refused(_authorize(tenant_a, "https://10.1.2.3/client.json"), "internal address")
    _refused(_authorize(tenant_a, "https://169.254.169.254/latest.json"), "internal address")


def test_loopback_is_refused_without_the_development_allowance(
    tenant_a, documents_on, docserver, fetch_settings
):
    fetch_settings(ALLOW_LOOPBACK=False)
    url = _published(docserver)
    _refused(_authorize(tenant_a, url), "internal address")
    assert _hits(docserver, url) == 0


def test_an_oversized_document_is_refused_and_not_fetched_again(
    tenant_a, documents_on, docserver, fetch_settings
):
    fetch_settings(MAX_BYTES=2048)
    path = docserver.new_path()
    url = docserver.url(path)
    big = _document(url, client_name="x" * 200, padding="y" * 4000)
    docserver.serve_json(path, big)
    _refused(_authorize(tenant_a, url), "larger than 2048 bytes")
    _refused(_authorize(tenant_a, url), "larger than 2048 bytes")
    assert _hits(docserver, url) == 1


def test_a_slow_document_is_refused(tenant_a, documents_on, docserver, fetch_settings):
    fetch_settings(TIMEOUT_SECONDS=0.3)
    path = docserver.new_path()
    url = docserver.url(path)
    docserver.serve(path, Route(body=json.dumps(_document(url)).encode(), delay=1.0))
    _refused(_authorize(tenant_a, url), "could not be fetched")
    _refused(_authorize(tenant_a, url), "could not be fetched")
    assert _hits(docserver, url) == 1


def test_a_redirect_is_not_followed(tenant_a, documents_on, docserver):
    path = docserver.new_path()
    url = docserver.serve(
        path, Route(status=302, headers={"Location": "https://10.0.0.1/client.json"})
    )
    _refused(_authorize(tenant_a, url), "redirect")
    _refused(_authorize(tenant_a, url), "redirect")
    assert _hits(docserver, url) == 1


def test_documents_off_or_a_host_outside_the_allow_list_are_not_fetched(
    tenant_a, fetch_settings, docserver
):
    url = _published(docserver)
    _refused(_authorize(tenant_a, url), "does not accept clients identified by a URL")
    set_policy(tenant_a, documents="hosts", document_hosts=["tools.example.com"])
    _refused(_authorize(tenant_a, url), "does not accept clients from")
    assert _hits(docserver, url) == 0
    set_policy(tenant_a, document_hosts=[docserver.host])
    assert _authorize(tenant_a, url).status_code == 200  # the consent page


def test_a_disabled_document_client_is_refused(tenant_a, documents_on, docserver):
    from oauth.models import Client

    url = _published(docserver)
    assert _authorize(tenant_a, url).status_code == 200
    with tenant_a.context():
        Client.objects.filter(client_id=url).update(disabled=True)
    _refused(_authorize(tenant_a, url), "disabled")


def test_each_tenant_fetches_and_decides_for_itself(tenant_a, tenant_b, documents_on, docserver):
    from oauth.models import Client

    url = _published(docserver)
    assert _authorize(tenant_a, url).status_code == 200
    _refused(_authorize(tenant_b, url), "does not accept clients identified by a URL")
    set_policy(tenant_b, documents="any")
    assert _authorize(tenant_b, url).status_code == 200
    assert _hits(docserver, url) == 2  # B's cache is B's own
    with tenant_b.context():
        assert Client.objects.filter(client_id=url).count() == 1


def test_the_token_endpoint_refuses_an_unusable_document_as_invalid_client(tenant_a, documents_on):
    from tests.support.factories import assert_error, post_form

    response = post_form(
        tenant_a.client(),
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": "https://10.9.9.9/client.json",
            "redirect_uri": LOOPBACK_REDIRECT,
            "code_verifier": "v" * 43,
        },
    )
    assert_error(response, 401, "invalid_client")


# --- the fetcher's rules on their own --------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("fd00:ec2::254", False),
        ("fe80::1", False),
        ("::ffff:10.0.0.1", False),
        ("127.0.0.1", False),
        ("::1", False),
    ],
)
def test_internal_addresses_are_refused(address, allowed):
    from oauth.fetch import address_allowed

    assert address_allowed(address, allow_loopback=False) is allowed


def test_loopback_only_with_the_allowance():
    from oauth.fetch import address_allowed

    assert address_allowed("127.0.0.1", allow_loopback=True)
    assert address_allowed("::1", allow_loopback=True)
    assert not address_allowed("10.0.0.1", allow_loopback=True)


@pytest.mark.parametrize(
    ("control", "expected"),
    [
        ("max-age=600", 600),
        ("no-store", 60),
        ("", 60),
        ("max-age=5", 60),
        ("max-age=9999999", 86400),
    ],
)
def test_cache_lifetime_is_clamped_between_floor_and_ceiling(control, expected):
    from oauth.fetch import _max_age

    assert _max_age({"Cache-Control": control}, 60, 86400) == expected


def test_only_https_urls_are_fetched(fetch_settings):
    from oauth.fetch import FetchError, fetch_json

    for url in ("http://clients.gatehouse.test/x", "https://u:p@clients.gatehouse.test/x"):
        with pytest.raises(FetchError):
            fetch_json(url, purpose="test")
