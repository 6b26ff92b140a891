"""A real https server on loopback serving client metadata documents, for the fetcher.

Its certificate comes from a throwaway CA (trustme) that the fetcher is told to trust
(``GATEHOUSE["DOCUMENT_FETCH"]["CA_BUNDLE"]``); its host name is under the test base domain,
which the tests resolve to 127.0.0.1 (``tests.support.live.map_test_hosts``). Every route
counts its hits, so tests can tell whether a document was fetched again.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import trustme


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class DocumentServer:
    def __init__(self, host: str, ca_path: str) -> None:
        self.host = host
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        ca = trustme.CA()
        ca.cert_pem.write_to_path(ca_path)
        self.ca_path = ca_path
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(host).configure_cert(context)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the stdlib's name
                path = self.path
                server.hits[path] = server.hits.get(path, 0) + 1
                route = server.routes.get(path, Route(status=404, body=b"{}"))
                if route.delay:
                    time.sleep(route.delay)
                try:
                    self.send_response(route.status)
                    for name, value in route.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(route.body)))
                    self.end_headers()
                    self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"https://{self.host}:{self.port}{path}"

    def new_path(self, name: str = "client.json") -> str:
        return f"/{uuid.uuid4().hex}/{name}"

    def serve(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url(path)

    def serve_json(self, path: str, document: dict, **headers: str) -> str:
        headers.setdefault("Content-Type", "application/json")
        return self.serve(path, Route(body=json.dumps(document).encode(), headers=headers))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
