"""A real server over a real socket: gunicorn on the test database, tenants by Host.

``*.gatehouse.test`` does not resolve here; ``map_test_hosts`` points it at 127.0.0.1 for
this process (Python clients) and the browser gets ``--host-resolver-rules``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.secrets import watch_log_file

REPO = Path(__file__).resolve().parents[2]
_real_getaddrinfo = socket.getaddrinfo


def _private_ip(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_loopback and (address.is_private or address.is_link_local)


def map_test_hosts(base_domain: str) -> None:
    """Resolve the test base domain to loopback, and never let a test reach a private IP.

    Tests address pods by IP only in the Host header; should one use such an address as a
    connection target, it goes to loopback instead of off this machine.
    """

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and (
            host == base_domain or host.endswith("." + base_domain) or _private_ip(host)
        ):
            host = "127.0.0.1"
        return _real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(database_name: str, **extra: str) -> dict[str, str]:
    """Environment for a subprocess (server, worker) that shares the test database."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="gatehouse.settings.test",
        DATABASE_URL=(
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
            f"{database_name}"
        ),
        REDIS_URL=settings.REDIS_URL,
        GATEHOUSE_BASE_DOMAIN=settings.GATEHOUSE_BASE_DOMAIN,
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "platform")]),
    )
    env.update(extra)
    return env


class LiveServer:
    """gunicorn (``workers`` processes x 4 threads) serving ``database_name`` over a real
    socket; ``env`` adds to or overrides the environment (a pooled DATABASE_URL, say);
    ``args`` go on gunicorn's command line (``-c python:gatehouse.gunicorn_conf``, say)."""

    def __init__(
        self,
        database_name: str,
        log_dir: Path,
        workers: int = 2,
        *,
        env: dict[str, str] | None = None,
        name: str = "gunicorn",
        args: tuple[str, ...] = (),
    ) -> None:
        from django.conf import settings

        self.port = free_port()
        self.base_domain = settings.GATEHOUSE_BASE_DOMAIN
        self.log_path = log_dir / f"{name}-{self.port}.log"
        env = service_env(
            database_name,
            AUTHLIB_INSECURE_TRANSPORT="1",
            GATEHOUSE_PUBLIC_SCHEME="http",
            GATEHOUSE_PUBLIC_PORT=str(self.port),
            **(env or {}),
        )
        self.log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "gatehouse.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--threads",
                "4",
                "--worker-tmp-dir",
                "/dev/shm",
                "--log-level",
                "warning",
                *args,
            ],
            cwd=REPO,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        watch_log_file(self.log_path)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()  # never leave a server behind when start-up fails
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not become ready in 60 s")

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    def issuer(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log_file.close()
