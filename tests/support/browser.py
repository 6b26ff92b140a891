"""A scripted browser for the live server: follows the authorization request through the
tenant's login and consent pages, posting their forms (CSRF token from the page), and stops
at the redirect back to the relying party, which it never fetches."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

import requests

from tests.support.secrets import remember_secret

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_NEXT = re.compile(r'name="next" value="([^"]*)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class Browser:
    """One user agent (one cookie jar) on one tenant host of the live server."""

    def __init__(self, server, tenant, username: str, password: str) -> None:
        self.http = requests.Session()
        self.base = server.url(tenant.host, "")
        self.username, self.password = username, password
        self.pages: list[str] = []  # the paths of the pages shown, in order

    def _get(self, location: str) -> requests.Response:
        return self.http.get(urljoin(self.base, location), allow_redirects=False, timeout=10)

    def _post(self, path: str, data: dict) -> requests.Response:
        return self.http.post(
            urljoin(self.base, path),
            data=data,
            allow_redirects=False,
            timeout=10,
            headers={"Origin": self.base.rstrip("/")},
        )

    def authorize(self, url: str, *, steps: int = 8) -> str:
        """Open ``url`` and go on as a user who logs in and allows; return the redirect
        back to the client (its code is remembered as a secret)."""
        response = self._get(url)
        for _ in range(steps):
            if response.status_code == 302:
                location = response.headers["Location"]
                if not location.startswith("/"):
                    return remember_secret(location)
                response = self._get(location)
                continue
            assert response.status_code == 200, (response.status_code, response.text[:300])
            page = response.text
            token = _CSRF.search(page).group(1)
            if 'name="password"' in page:
                self.pages.append("login")
                next_url = html.unescape(_NEXT.search(page).group(1))
                response = self._post(
                    "/oauth/login",
                    {
                        "csrfmiddlewaretoken": token,
                        "username": self.username,
                        "password": self.password,
                        "next": next_url,
                    },
                )
            else:
                self.pages.append("consent")
                fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}
                fields.update(csrfmiddlewaretoken=token, decision="allow")
                response = self._post("/oauth/consent", fields)
        raise AssertionError(f"no redirect to the client after {steps} steps: {self.pages}")

    def get(self, path_or_url: str, params: dict | None = None) -> requests.Response:
        return self.http.get(
            urljoin(self.base, path_or_url), params=params, allow_redirects=False, timeout=10
        )
