"""Set-up shared by the benchmarks (``bench/client_credentials.py``, ``bench/purge.py``).

The bench database and the environment it runs under (production settings, bench-only
secrets), Django in this process, tenants and clients through the operator CLI, gunicorn on a
loopback port, wrk, and the generated section of a doc. The benchmarks run as scripts, so this
folder is on ``sys.path`` and they ``import common``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

REPO = Path(__file__).resolve().parents[1]
BASE_DOMAIN = "bench.test"
TOKEN_BODY = "grant_type=client_credentials"


# --- environment, database, Django ----------------------------------------------------------


def bench_env(database_url: str, redis_url: str) -> dict[str, str]:
    """This process's environment plus production settings on the bench database and Redis."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="gatehouse.settings.production",
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE="600",
        REDIS_URL=redis_url,
        SECRET_KEY="bench-only-" + "k3y" * 20,
        GATEHOUSE_BASE_DOMAIN=BASE_DOMAIN,
        GATEHOUSE_KEY_ENCRYPTION_KEY=base64.urlsafe_b64encode(
            b"bench-only-key-0123456789abcdef!"
        ).decode(),
        LOG_LEVEL="WARNING",
        # One bench client asks for thousands of tokens a minute, far past the per-client,
        # per-tenant and per-IP defaults: raise them, so the limiter runs (its cost is in the
        # figures) but never refuses.
        GATEHOUSE_RATE_LIMIT_CLIENT_REQUESTS="100000000",
        GATEHOUSE_RATE_LIMIT_TENANT_REQUESTS="100000000",
        GATEHOUSE_RATE_LIMIT_IP_REQUESTS="100000000",
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "platform")]),
    )
    return env


def ensure_database(database_url: str, *, recreate: bool) -> bool:
    """Create the bench database if needed (dropped first with ``recreate``); True when new."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if recreate:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return not exists


def setup_django(env: dict[str, str]) -> None:
    """Django in this process, configured by ``env`` (see ``bench_env``).

    Connects to nothing: the database need not exist yet. Afterwards Django and the product
    code (``tenants``, ``workers``, ``gatehouse``) can be imported.
    """
    os.environ.update(env)
    sys.path[:0] = [str(REPO), str(REPO / "platform")]
    import django

    django.setup()


def manage(env: dict[str, str], *args: str) -> str:
    """``manage.py ARGS`` in a subprocess; its stdout, or SystemExit with its stderr's end."""
    proc = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise SystemExit(f"manage.py {args[0]} failed: {proc.stderr.strip()[-800:]}")
    return proc.stdout


# --- tenants and clients --------------------------------------------------------------------


#: The API scopes the benchmarks' clients use; a new tenant allows only the OIDC ones.
BENCH_SCOPES = ("api", "read")


def provision_tenant(env: dict[str, str], slug: str, name: str, admin_password: str) -> None:
    manage(
        env, "provision_tenant", "--slug", slug, "--name", name,
        "--admin-email", f"admin@{slug}.test", "--admin-password", admin_password, "--json",
    )  # fmt: skip
    # As a tenant admin would on the settings page: allow the API scopes the bench uses.
    manage(
        env, "shell", "-c",
        "from django_tenants.utils import schema_context\n"
        "from oauth.models import IssuerSettings\n"
        "from oauth.services.issuer import issuer_settings_update\n"
        f"with schema_context({slug.replace('-', '_')!r}):\n"
        "    allowed = IssuerSettings.load().scopes_supported\n"
        f"    issuer_settings_update(scopes_supported=[*allowed, *{list(BENCH_SCOPES)!r}])\n",
    )  # fmt: skip


def register_client(env: dict[str, str], tenant: str, name: str, *options: str) -> dict:
    """``register_client --json`` in ``tenant``: the client's id, secret and settings."""
    return json.loads(
        manage(env, "register_client", "--tenant", tenant, "--name", name, *options, "--json")
    )


def basic_auth(client: dict) -> str:
    """The Authorization header value for client_secret_basic."""
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    return f"Basic {basic}"


def token_headers(host: str, authorization: str) -> dict[str, str]:
    """Headers of a token request (with body TOKEN_BODY) to the tenant at ``host``."""
    return {
        "Host": host,
        "X-Forwarded-Proto": "https",
        "Authorization": authorization,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def token_request(port: int, headers: dict[str, str]) -> tuple[int, dict]:
    """One client_credentials token request: the status and the JSON body ({} if none)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/oauth/token", data=TOKEN_BODY.encode(), headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerDidNotStart(SystemExit):
    """gunicorn did not answer /healthz within 30 s (exits the script unless caught)."""


@contextmanager
def gunicorn(env: dict[str, str], log: Path) -> Iterator[int]:
    """gunicorn (2 sync workers) on a free loopback port; yields the port once /healthz
    answers, and stops the server on the way out."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "gatehouse.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "sync",
            "--worker-tmp-dir",
            "/dev/shm",
            "--log-level",
            "warning",
        ],  # fmt: skip
        cwd=REPO,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ServerDidNotStart(
                        f"gunicorn did not start: {log.read_text()[-1000:]}"
                    ) from None
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


class Wrk:
    """wrk running in the background (no thread of ours waits on it); ``result()`` parses."""

    def __init__(
        self, url: str, method: str, headers: dict, body: str, seconds: float, conns: int
    ) -> None:
        lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(f'wrk.method = "{method}"\nwrk.body = "{body}"\n{lines}\n')
        self.script = script.name
        self.seconds = max(1, round(seconds))
        self.proc = subprocess.Popen(
            ["wrk", "-t2", f"-c{conns}", f"-d{self.seconds}s", "--latency", "-s", self.script,
             url],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip

    def running(self) -> bool:
        return self.proc.poll() is None

    def result(self) -> dict:
        try:
            out, _ = self.proc.communicate(timeout=self.seconds + 60)
        finally:
            os.unlink(self.script)
        return parse_wrk(out)


def parse_wrk(out: str) -> dict:
    """req/s, requests, non-2xx, socket errors, p50 and p99 of wrk's ``--latency`` output."""
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "none",
        "p50": p50.group(1) if p50 else "?",
        "p99": p99.group(1) if p99 else "?",
    }


# --- docs -----------------------------------------------------------------------------------


def write_section(doc: Path, start: str, end: str, content: str, *, heading: str = "") -> None:
    """Put ``content`` (ending in a newline) between the markers ``start`` and ``end`` of
    ``doc``: replaced where the markers are, appended otherwise (to ``heading`` for a new
    doc). What is written around the markers stays."""
    doc.parent.mkdir(exist_ok=True)
    text = doc.read_text() if doc.exists() else heading
    block = f"{start}\n{content}{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
    doc.write_text(text)
