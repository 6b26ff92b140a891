"""A session save that meets a PostgreSQL outage is a 503 with Retry-After, not Django's 400
``SessionInterrupted`` ("the session was deleted by a concurrent request"). The outage is
real: gunicorn reaches PostgreSQL through a TCP relay that this test cuts at the moment the
session row is updated."""

from __future__ import annotations

import html
import re
import socket
import threading
from urllib.parse import urljoin

import pytest
import requests

from tests.support.factories import make_user
from tests.support.live import LiveServer, free_port, map_test_hosts

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class CuttingRelay:
    """Relays 127.0.0.1:<port> to PostgreSQL; when armed, the first client message that
    updates ``django_session`` closes that connection (server side gone, as in a restart)
    and, for ``down_for`` more connections, new connections are refused by closing them."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.armed = threading.Event()
        self.cut = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source, sink, from_app: bool) -> None:
        try:
            while data := source.recv(65536):
                if (
                    from_app
                    and self.armed.is_set()
                    and b"django_session" in data
                    and b"UPDATE" in data
                ):
                    self.armed.clear()
                    self.cut.set()
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.mark.live
@pytest.mark.slow
def test_session_save_during_a_database_outage_is_503(tmp_path, tenant_a, commit):
    from django.conf import settings

    db = settings.DATABASES["default"]
    with commit(tenant_a):
        user = make_user(tenant_a)
    map_test_hosts(settings.GATEHOUSE_BASE_DOMAIN)
    relay = CuttingRelay(int(db["PORT"] or 5432))
    url = f"postgres://{db['USER']}@127.0.0.1:{relay.port}/{db['NAME']}"
    server = LiveServer(
        db["NAME"], tmp_path, workers=1, env={"DATABASE_URL": url, "DATABASE_CONNECT_TIMEOUT": "2"}
    )
    try:
        agent = requests.Session()
        base = server.url(tenant_a.host, "")
        page = agent.get(urljoin(base, "/oauth/login"), timeout=10)
        assert page.status_code == 200
        next_url = html.unescape(re.search(r'name="next" value="([^"]*)"', page.text).group(1))
        form = {
            "csrfmiddlewaretoken": _CSRF.search(page.text).group(1),
            "username": user.username,
            "password": user.raw_password,
            "next": next_url,
        }
        relay.armed.set()
        response = agent.post(
            urljoin(base, "/oauth/login"), data=form, allow_redirects=False, timeout=15
        )
        assert relay.cut.is_set(), "the session row was never updated"
        assert response.status_code == 503, response.text[:300]
        assert response.headers["Retry-After"] == "5"
        assert "try again" in response.text and "Traceback" not in response.text
        # The relay is whole again: the next request reconnects, no restart needed.
        again = agent.get(urljoin(base, "/oauth/login"), timeout=10)
        assert again.status_code == 200
    finally:
        server.stop()
        relay.close()


@pytest.mark.django_db
def test_a_session_deleted_by_a_concurrent_request_is_still_400(tenant_a, rf):
    """The UPDATE touched no row: Django's SessionInterrupted (a 400) is the truth there."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.exceptions import SessionInterrupted
    from django.http import HttpResponse

    from kernel.sessions import SessionMiddleware

    middleware = SessionMiddleware(lambda request: HttpResponse())
    with tenant_a.context():
        store = SessionStore()
        store["seen"] = 1
        store.create()
        SessionStore(store.session_key).delete()  # a sign-out in another request
        store["seen"] = 2
        request = rf.get("/")
        request.session = store
        with pytest.raises(SessionInterrupted):
            middleware.process_response(request, HttpResponse())
