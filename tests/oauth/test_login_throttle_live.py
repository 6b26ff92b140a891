"""The login throttle on a live server (gunicorn, 2 workers x 4 threads): concurrent wrong
guesses verify at most the limit, a stranger's failures do not stop the real user signing
in from elsewhere. (The platform-wide per-IP ceiling across tenants is tested against the
same Redis in test_login_consent.py, with limits small enough for two tenants.)"""

from __future__ import annotations

import re
import secrets
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from kernel.conf import DEFAULTS
from tests.support.factories import make_user
from tests.support.live import LiveServer

pytestmark = [pytest.mark.live, pytest.mark.slow]

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
LIMITS = DEFAULTS["LOGIN_THROTTLE"]


@pytest.fixture(scope="module")
def proxied_server(live_server_db_name, tmp_path_factory):
    """One trusted proxy hop, so each request may say which client address it is from."""
    server = LiveServer(
        live_server_db_name,
        tmp_path_factory.mktemp("throttle"),
        name="throttle",
        env={"GATEHOUSE_TRUSTED_PROXY_COUNT": "1"},
    )
    yield server
    server.stop()


def _agent(server, host: str, ip: str) -> tuple[requests.Session, str]:
    agent = requests.Session()
    agent.headers["X-Forwarded-For"] = ip
    page = agent.get(server.url(host, "/oauth/login"), timeout=10)
    assert page.status_code == 200
    return agent, _CSRF.search(page.text).group(1)


def _attempt(server, host: str, ip: str, username: str, password: str, agent=None) -> int:
    agent, token = agent or _agent(server, host, ip)
    response = agent.post(
        server.url(host, "/oauth/login"),
        data={"csrfmiddlewaretoken": token, "username": username, "password": password},
        allow_redirects=False,
        timeout=30,
    )
    return response.status_code


def _ip() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"


def test_concurrent_wrong_guesses_verify_at_most_the_limit(proxied_server, tenant_a, commit):
    """40 guesses at once for one user from one address: each is reserved before its password
    is checked, so at most USER_IP_ATTEMPTS are verified (400); the rest get 429."""
    with commit(tenant_a):
        user = make_user(tenant_a)
    ip = _ip()
    agents = [_agent(proxied_server, tenant_a.host, ip) for _ in range(40)]
    start = threading.Barrier(len(agents))

    def guess(agent) -> int:
        start.wait()
        return _attempt(
            proxied_server, tenant_a.host, ip, user.username, "wrong-guess-123", agent=agent
        )

    with ThreadPoolExecutor(len(agents)) as pool:
        answers = Counter(pool.map(guess, agents))
    assert set(answers) <= {400, 429}, answers
    assert 1 <= answers[400] <= LIMITS["USER_IP_ATTEMPTS"], answers
    assert answers[429] >= 40 - LIMITS["USER_IP_ATTEMPTS"]


def test_a_strangers_failures_leave_the_real_user_signing_in(proxied_server, tenant_a, commit):
    with commit(tenant_a):
        user = make_user(tenant_a)
    stranger = _ip()
    answers = [
        _attempt(proxied_server, tenant_a.host, stranger, user.username, "wrong-guess-123")
        for _ in range(LIMITS["USER_IP_ATTEMPTS"] + 2)
    ]
    assert answers[-1] == 429 and answers.count(400) == LIMITS["USER_IP_ATTEMPTS"]
    assert _attempt(proxied_server, tenant_a.host, _ip(), user.username, user.raw_password) == 302
