"""A real PgBouncer in transaction mode, gunicorn behind it, and many tenants' traffic at once.

PgBouncer refuses to run as root, so as root it is started with ``-u postgres`` from a
directory that user owns (pytest's own temp directories are private to root).
"""

from __future__ import annotations

import os
import queue
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

from tests.support.live import LiveServer, free_port
from tests.support.secrets import remember_secret
from tests.support.tenants import TenantInfo

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
DEFAULT_SEARCH_PATH = '"$user", public'


class PgBouncer:
    """PgBouncer on a free port in front of ``database_name``, ``pool_size`` server
    connections, trust authentication for the test database's user."""

    def __init__(self, database_name: str, *, pool_size: int = 2) -> None:
        from django.conf import settings

        if not os.access(PGBOUNCER, os.X_OK):
            raise RuntimeError("these tests need PgBouncer: apt-get install pgbouncer")
        db = settings.DATABASES["default"]
        self.database = database_name
        self.user = db["USER"]
        self.pool_size = pool_size
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gatehouse-pgbouncer-"))
        password = f" password={db['PASSWORD']}" if db["PASSWORD"] else ""
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n')
        ini = self.dir / "pgbouncer.ini"
        ini.write_text(
            f"""[databases]
{database_name} = host={db["HOST"] or "127.0.0.1"} port={db["PORT"] or 5432} \
dbname={database_name}{password}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/users.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
logfile = {self.dir}/pgbouncer.log
pidfile = {self.dir}/pgbouncer.pid
"""
        )
        as_user = []
        if os.geteuid() == 0:
            as_user = ["-u", "postgres"]
            for path in (self.dir, *self.dir.iterdir()):
                shutil.chown(path, "postgres")
        self.process = subprocess.Popen(
            [PGBOUNCER, *as_user, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.dir / "pgbouncer.log"
                raise RuntimeError(f"pgbouncer exited: {log.read_text()[-2000:]}")
            ready = subprocess.run(
                ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("pgbouncer did not accept connections in 20 s")

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def server_sessions(self) -> list[dict]:
        """What each server connection carries in its session, seen from one transaction
        per server connection (``pool_size`` clients, each holding one open at once)."""
        dsn = f"host=127.0.0.1 port={self.port} user={self.user} dbname={self.database}"
        clients = [psycopg.connect(dsn, autocommit=True) for _ in range(self.pool_size)]
        try:
            seen = []
            for client in clients:
                client.execute("BEGIN")
                pid, search_path, session = client.execute(
                    "SELECT pg_backend_pid(), current_setting('search_path'), "
                    "(SELECT coalesce(array_agg(name ORDER BY name), '{}') "
                    " FROM pg_settings WHERE source = 'session')"
                ).fetchone()
                seen.append({"pid": pid, "search_path": search_path, "session": session})
            return seen
        finally:
            for client in clients:
                client.execute("ROLLBACK")
                client.close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PooledServer(LiveServer):
    """gunicorn (``workers`` processes x 4 threads) on the test database through PgBouncer,
    with persistent connections as in production and the given ``DATABASE_POOL_MODE``."""

    def __init__(
        self, log_dir: Path, *, bouncer: PgBouncer, pool_mode: str, workers: int = 4
    ) -> None:
        env = {
            "DATABASE_URL": bouncer.url,
            "DATABASE_POOL_MODE": pool_mode,
            "DATABASE_CONN_MAX_AGE": "60",
        }
        super().__init__(bouncer.database, log_dir, workers, env=env, name=f"gunicorn-{pool_mode}")


# --- One tenant's clients, user and refresh chains -------------------------------------------


@dataclass
class TenantWorld:
    info: TenantInfo
    service_id: str
    service_secret: str
    web_id: str
    web_secret: str
    user_sub: str
    kids: frozenset[str]
    # (access token, refresh token) pairs; a request takes one and puts back its successor,
    # so no two requests ever present the same refresh token.
    chains: queue.Queue = field(default_factory=queue.Queue)


def tenant_world(info: TenantInfo, *, extra_clients: int) -> TenantWorld:
    """Clients and a user of ``info``, committed. ``extra_clients`` registered first make
    this tenant's client ids (primary keys) differ from the other tenants', so a token row
    written into the wrong schema points at a client the test can tell apart."""
    from django.db.models import Q

    from oauth.models import SigningKey
    from tests.support.factories import make_client, make_user, make_web_client

    for _ in range(extra_clients):
        make_client(info, name="Bystander")
    service = make_client(info, name="Pooled service", scopes=["api", "read"])
    web = make_web_client(info, name="Pooled web app")
    user = make_user(info)
    for value in (service.secret, web.secret, user.raw_password):
        remember_secret(value, session=True)
    with info.context():
        published = SigningKey.objects.filter(
            Q(state__in=("next", "current")) | Q(state="retiring")
        )
        kids = frozenset(published.values_list("kid", flat=True))
    return TenantWorld(
        info, service.client_id, service.secret, web.client_id, web.secret, str(user.pk), kids
    )


def start_chains(world: TenantWorld, server: LiveServer, count: int) -> None:
    """``count`` authorization-code grants of the world's user, redeemed through ``server``."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from kernel import credentials
    from oauth.models import Client
    from oauth.services.codes import authorization_code_create

    codes = []
    with world.info.context():
        client = Client.objects.get(client_id=world.web_id)
        owner = get_user_model().objects.get(pk=world.user_sub)
        for _ in range(count):
            code = remember_secret(credentials.new_secret(), session=True)
            authorization_code_create(
                client=client,
                user=owner,
                code=code,
                redirect_uri=client.redirect_uris[0],
                scope="openid api",
                auth_time=timezone.now(),
            )
            codes.append(code)
    for code in codes:
        answer = requests.post(
            server.url(world.info.host, "/oauth/token"),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": client.redirect_uris[0],
            },
            auth=(world.web_id, world.web_secret),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        remember_secret(body["access_token"], session=True)
        remember_secret(body["refresh_token"], session=True)
        world.chains.put((body["access_token"], body["refresh_token"]))


# --- Traffic -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a run of traffic got: every answer that was not the expected one, and counts of
    what the server should have written per tenant slug."""

    requests: int = 0
    seconds: float = 0.0
    wrong: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    issued: Counter = field(default_factory=Counter)  # client_credentials tokens
    refreshed: Counter = field(default_factory=Counter)
    revoked: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def summary(self) -> str:
        ordered = sorted(self.latencies)
        p50 = ordered[len(ordered) // 2] * 1000 if ordered else 0.0
        return (
            f"{self.requests} requests in {self.seconds:.1f} s "
            f"({self.requests / max(self.seconds, 1e-9):.0f}/s, p50 {p50:.1f} ms), "
            f"statuses {dict(self.statuses)}, {len(self.wrong)} wrong answers"
        )


class Traffic:
    """Mixed requests for every world at once: client_credentials issuance, introspection,
    revocation, userinfo and refresh, discovery, JWKS. Every answer is checked against what
    this tenant, and only this tenant, would say."""

    KINDS = ("client_credentials", "revocation", "refresh", "discovery", "jwks")
    REQUESTS_PER_KIND = {"client_credentials": 2, "revocation": 3, "refresh": 2, "discovery": 2}

    def __init__(self, server: LiveServer, worlds: list[TenantWorld]) -> None:
        self.server = server
        self.worlds = worlds
        self.outcome = Outcome()

    def run(self, total_requests: int, threads: int = 16, seed: int = 15) -> Outcome:
        tasks = []
        planned = 0
        while planned < total_requests:
            for world in self.worlds:
                for kind in self.KINDS:
                    tasks.append((kind, world))
                    planned += self.REQUESTS_PER_KIND.get(kind, 1)
        random.Random(seed).shuffle(tasks)
        started = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(self._task, kind, world) for kind, world in tasks]:
                future.result()
        self.outcome.seconds = time.monotonic() - started
        return self.outcome

    # -- one request ----------------------------------------------------------------------

    def _send(self, method: str, world: TenantWorld, path: str, **kwargs) -> requests.Response:
        started = time.monotonic()
        # A new connection each time: reusing keep-alive connections races with the server
        # closing idle ones, which would show up here as resets that are nobody's error.
        answer = requests.request(
            method, self.server.url(world.info.host, path), timeout=30, **kwargs
        )
        elapsed = time.monotonic() - started
        with self.outcome._lock:
            self.outcome.requests += 1
            self.outcome.statuses[answer.status_code] += 1
            self.outcome.latencies.append(elapsed)
        return answer

    def _wrong(self, world: TenantWorld, what: str, answer: requests.Response) -> None:
        try:
            body = answer.json()
        except ValueError:
            body = answer.text[:80]
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k in ("error", "active", "client_id", "sub")}
        with self.outcome._lock:
            self.outcome.wrong.append(f"{world.info.slug} {what}: {answer.status_code} {body}")

    def _json(self, answer: requests.Response) -> dict:
        try:
            body = answer.json()
        except ValueError:
            return {}
        for key in ("access_token", "refresh_token", "id_token"):
            remember_secret(body.get(key), session=True)
        return body

    # -- the kinds ------------------------------------------------------------------------

    def _task(self, kind: str, world: TenantWorld) -> None:
        try:
            getattr(self, "_" + kind)(world)
        except requests.RequestException as exc:
            with self.outcome._lock:
                self.outcome.statuses["no answer"] += 1
                self.outcome.wrong.append(f"{world.info.slug} {kind}: {exc.__class__.__name__}")

    def _issue(self, world: TenantWorld) -> str | None:
        answer = self._send(
            "POST",
            world,
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "api"},
            auth=(world.service_id, world.service_secret),
        )
        body = self._json(answer)
        if answer.status_code != 200 or body.get("token_type") != "Bearer":
            self._wrong(world, "client_credentials", answer)
            return None
        with self.outcome._lock:
            self.outcome.issued[world.info.slug] += 1
        return body["access_token"]

    def _introspect(self, world: TenantWorld, token: str, *, active: bool) -> None:
        answer = self._send(
            "POST",
            world,
            "/oauth/introspect",
            data={"token": token},
            auth=(world.service_id, world.service_secret),
        )
        body = self._json(answer)
        expected = (
            body.get("active") is True
            and body.get("client_id") == world.service_id
            and body.get("iss") == self.server.issuer(world.info.host)
            if active
            else body == {"active": False}
        )
        if answer.status_code != 200 or not expected:
            self._wrong(world, f"introspection (active={active})", answer)

    def _client_credentials(self, world: TenantWorld) -> None:
        token = self._issue(world)
        if token is not None:
            self._introspect(world, token, active=True)

    def _revocation(self, world: TenantWorld) -> None:
        token = self._issue(world)
        if token is None:
            return
        answer = self._send(
            "POST",
            world,
            "/oauth/revoke",
            data={"token": token},
            auth=(world.service_id, world.service_secret),
        )
        if answer.status_code != 200:
            self._wrong(world, "revocation", answer)
            return
        with self.outcome._lock:
            self.outcome.revoked[world.info.slug] += 1
        self._introspect(world, token, active=False)

    def _refresh(self, world: TenantWorld) -> None:
        access, refresh = world.chains.get(timeout=60)
        successor = (access, refresh)
        try:
            answer = self._send(
                "GET", world, "/oauth/userinfo", headers={"Authorization": f"Bearer {access}"}
            )
            if answer.status_code != 200 or self._json(answer).get("sub") != world.user_sub:
                self._wrong(world, "userinfo", answer)
            answer = self._send(
                "POST",
                world,
                "/oauth/token",
                data={"grant_type": "refresh_token", "refresh_token": refresh},
                auth=(world.web_id, world.web_secret),
            )
            body = self._json(answer)
            if answer.status_code != 200 or not body.get("refresh_token"):
                self._wrong(world, "refresh", answer)
                return
            with self.outcome._lock:
                self.outcome.refreshed[world.info.slug] += 1
            successor = (body["access_token"], body["refresh_token"])
        finally:
            world.chains.put(successor)

    def _discovery(self, world: TenantWorld) -> None:
        issuer = self.server.issuer(world.info.host)
        for path in (
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ):
            answer = self._send("GET", world, path)
            if answer.status_code != 200 or self._json(answer).get("issuer") != issuer:
                self._wrong(world, path, answer)

    def _jwks(self, world: TenantWorld) -> None:
        answer = self._send("GET", world, "/oauth/jwks")
        kids = {key.get("kid") for key in self._json(answer).get("keys", [])}
        if answer.status_code != 200 or kids != world.kids:
            self._wrong(world, "jwks", answer)


def token_rows_since(worlds: list[TenantWorld], baseline: dict[str, int]) -> dict[str, dict]:
    """Per tenant slug: token rows newer than ``baseline`` (max id per schema) in that
    tenant's own schema, counted by the client_id of the client they point at there."""
    from django.db import connection

    from oauth.models import Client, Token

    quote = connection.ops.quote_name
    rows = {}
    with connection.cursor() as cursor:
        for world in worlds:
            schema = quote(world.info.schema)
            cursor.execute(
                f"SELECT coalesce(c.client_id, '<no client>'), "
                f"count(*) FILTER (WHERE t.revoked_at IS NULL), "
                f"count(*) FILTER (WHERE t.revoked_at IS NOT NULL) "
                f"FROM {schema}.{quote(Token._meta.db_table)} t "
                f"LEFT JOIN {schema}.{quote(Client._meta.db_table)} c ON c.id = t.client_id "
                f"WHERE t.id > %s GROUP BY 1",
                [baseline.get(world.info.slug, 0)],
            )
            rows[world.info.slug] = {
                client_id: {"live": live, "revoked": revoked}
                for client_id, live, revoked in cursor.fetchall()
            }
    return rows


def token_baseline(worlds: list[TenantWorld]) -> dict[str, int]:
    from django.db import connection

    from oauth.models import Token

    quote = connection.ops.quote_name
    baseline = {}
    with connection.cursor() as cursor:
        for world in worlds:
            cursor.execute(
                f"SELECT coalesce(max(id), 0) FROM {quote(world.info.schema)}."
                f"{quote(Token._meta.db_table)}"
            )
            baseline[world.info.slug] = cursor.fetchone()[0]
    return baseline


def expected_rows(world: TenantWorld, outcome: Outcome) -> dict[str, dict]:
    slug = world.info.slug
    expected = {}
    issued, revoked = outcome.issued[slug], outcome.revoked[slug]
    if issued:
        expected[world.service_id] = {"live": issued - revoked, "revoked": revoked}
    if outcome.refreshed[slug]:
        expected[world.web_id] = {"live": outcome.refreshed[slug], "revoked": 0}
    return expected
