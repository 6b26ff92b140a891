"""The one origin builder (issuers, public URLs) and the proxy-aware client IP."""

import pytest
from django.test import RequestFactory

from kernel.http import client_ip, origin, public_url


@pytest.mark.parametrize(
    ("scheme", "host", "port", "expected"),
    [
        ("https", "acme.example.com", None, "https://acme.example.com"),
        ("https", "acme.example.com:443", None, "https://acme.example.com"),
        ("http", "acme.localhost:8000", None, "http://acme.localhost:8000"),
        ("http", "acme.localhost", 8000, "http://acme.localhost:8000"),
        ("http", "acme.localhost", 80, "http://acme.localhost"),
        ("http", "[::1]:8000", None, "http://[::1]:8000"),
        ("https", "[::1]", None, "https://[::1]"),
    ],
)
def test_origin(scheme, host, port, expected):
    assert origin(scheme, host, port) == expected


def test_public_url_uses_the_configured_scheme_and_port(settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "PUBLIC_SCHEME": "http", "PUBLIC_PORT": 8000}
    assert public_url("acme.localhost") == "http://acme.localhost:8000"
    assert public_url("acme.localhost", port=80) == "http://acme.localhost"


def test_client_ip_trusts_only_the_configured_proxies(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9"
    )
    assert client_ip(request) == "10.0.0.1"
    settings.GATEHOUSE = {**settings.GATEHOUSE, "TRUSTED_PROXY_COUNT": 1}
    assert client_ip(request) == "203.0.113.9"
    settings.GATEHOUSE = {**settings.GATEHOUSE, "TRUSTED_PROXY_COUNT": 3}
    assert client_ip(request) == "10.0.0.1"  # fewer hops than proxies: the socket's peer
