"""A relying party's back-channel logout endpoint for tests: a real https server on loopback
that records every logout request (OIDC Back-Channel Logout 1.0 §2.5).

Its certificate comes from a throwaway CA (trustme) the fetcher is told to trust
(``GATEHOUSE_DOCUMENT_FETCH_CA_BUNDLE``); it is issued for ``localhost``, which resolves
without the tests' host mapping, so a Celery worker in its own process reaches it too. The
port is chosen up front and the server can start later (a receiver that is down), answer with
any status, or sleep before answering (a slow receiver).
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import trustme

from tests.support.live import free_port


@dataclass
class Received:
    path: str
    content_type: str
    form: dict[str, list[str]]
    at: float


class LogoutReceiver:
    host = "localhost"

    def __init__(self, ca: trustme.CA) -> None:
        self.ca = ca
        self.port = free_port()
        self.received: list[Received] = []
        self.status = 200
        self.delay = 0.0
        self.httpd: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"https://{self.host}:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def start(self) -> LogoutReceiver:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert(self.host, "127.0.0.1").configure_cert(context)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("ascii", "replace")
                receiver.received.append(
                    Received(
                        path=self.path,
                        content_type=self.headers.get("Content-Type", ""),
                        form=parse_qs(body),
                        at=time.monotonic(),
                    )
                )
                if receiver.delay:
                    time.sleep(receiver.delay)
                try:
                    self.send_response(receiver.status)
                    self.send_header("Cache-Control", "no-store")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
