"""Helpers for tests against the live server (``gatehouse_server``): committed fixtures and
a scripted user agent for the login and consent pages."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import requests

from tests.support.secrets import remember_secret

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def metadata(server, tenant) -> dict:
    response = requests.get(
        server.url(tenant.host, "/.well-known/oauth-authorization-server"), timeout=10
    )
    assert response.status_code == 200
    return response.json()


def login_and_consent(
    server, tenant, authorize_url: str, username: str, password: str, *, agent=None
) -> str:
    """Follow an authorization URL as a user would: log in, allow; return the callback URL
    the server redirected to (never fetched). ``agent``: the user's ``requests.Session``
    (with its session cookie), when the test goes on with it."""
    import html

    agent = agent if agent is not None else requests.Session()
    base = server.url(tenant.host, "")
    response = agent.get(authorize_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:300]
    login_url = urljoin(base, response.headers["Location"])
    page = agent.get(login_url, timeout=10)
    token = _CSRF.search(page.text).group(1)
    next_url = html.unescape(re.search(r'name="next" value="([^"]*)"', page.text).group(1))
    response = agent.post(
        urljoin(base, "/oauth/login"),
        data={
            "csrfmiddlewaretoken": token,
            "username": username,
            "password": password,
            "next": next_url,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:300]
    consent = agent.get(urljoin(base, response.headers["Location"]), allow_redirects=False)
    if consent.status_code == 200:
        fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(consent.text)}
        fields["csrfmiddlewaretoken"] = _CSRF.search(consent.text).group(1)
        fields["decision"] = "allow"
        consent = agent.post(
            urljoin(base, "/oauth/consent"), data=fields, allow_redirects=False, timeout=10
        )
    assert consent.status_code == 302, consent.text[:300]
    callback = consent.headers["Location"]
    remember_secret(callback)
    return callback
