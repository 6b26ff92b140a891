"""PostgreSQL restarted under load (issue 15 item 6): 503s with Retry-After, never a 500,
recovery without restarting the app, and no lost write.

The test owns the PostgreSQL it stops (``tests.support.postgres.OwnPostgres``): a cluster made
with ``initdb`` on a free port, migrated and provisioned with the operator CLI, then served by
gunicorn with the production configuration module (``gatehouse.gunicorn_conf``) and
persistent connections with health checks (``DATABASE_CONN_MAX_AGE=60``, as in production).
Threads ask two tenants for client_credentials tokens throughout; PostgreSQL is stopped with
``pg_ctl stop -m fast`` (every session terminated, as in a restart or failover) and started
again on the same port while gunicorn keeps running.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import psycopg
import pytest
import requests

from kernel.credentials import digest
from tests.support.live import REPO, LiveServer, service_env
from tests.support.postgres import OwnPostgres
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.slow

# Two tenants, so every reconnection must also set the right tenant's search_path again.
SLUGS = ("pgrestart", "pgrestart-two")
THREADS = 6
# Requests each thread may need after PostgreSQL is back before its answers are 200 again:
# the first request on a dead persistent connection fails its health check and reconnects.
RECOVERY_RETRIES = 20


@dataclass
class Answer:
    tenant: str
    phase: str
    status: int
    retry_after: str | None
    content_type: str
    body: str
    access_token: str | None = None


@dataclass
class Load:
    """Threads each sending token requests one after the other, for the tenants in turn,
    tagging every answer with the phase it was sent in (``before``, ``down``, ``after``)."""

    targets: list[tuple[str, str, tuple[str, str]]]  # (slug, token endpoint, client auth)
    phase: str = "before"
    answers: list[Answer] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        # Closed at the end: an idle keep-alive connection would hold gunicorn's graceful
        # shutdown for its whole timeout.
        with requests.Session() as session:
            self._send_until_stopped(session)

    def _send_until_stopped(self, session: requests.Session) -> None:
        turn = 0
        while not self.stopped.is_set():
            phase = self.phase
            slug, url, auth = self.targets[turn % len(self.targets)]
            turn += 1
            try:
                response = session.post(
                    url, data={"grant_type": "client_credentials"}, auth=auth, timeout=30
                )
            except requests.RequestException as exc:  # a dropped connection is a failure too
                answer = Answer(slug, phase, 0, None, "", repr(exc))
            else:
                token = None
                if response.status_code == 200:
                    token = remember_secret(response.json()["access_token"])
                answer = Answer(
                    slug,
                    phase,
                    response.status_code,
                    response.headers.get("Retry-After"),
                    response.headers.get("Content-Type", ""),
                    response.text[:500],
                    token,
                )
            with self.lock:
                self.answers.append(answer)
            time.sleep(0.02)

    def failures(self, phase: str) -> int:
        return self.count(phase) - self.count(phase, 200)

    def count(self, phase: str, status: int | None = None) -> int:
        with self.lock:
            return sum(1 for a in self.answers if a.phase == phase and status in (None, a.status))


# The operator CLI, run in one Django process (a start-up costs seconds on a loaded machine):
# the JSON of each command run with --json, in order.
SETUP = """
import json, sys
from io import StringIO
from django.core.management import call_command
for args in json.loads(sys.stdin.read()):
    out = StringIO()
    call_command(*args, stdout=out)
    if "--json" in args:
        print("JSON " + out.getvalue().strip())
"""


def _manage(env: dict[str, str], *commands: list[str]) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", SETUP],
        cwd=REPO,
        env=env,
        input=json.dumps(commands),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    return [json.loads(line[5:]) for line in lines if line.startswith("JSON ")]


@pytest.fixture
def own_postgres():
    cluster = OwnPostgres()
    yield cluster
    cluster.remove()


def test_postgres_restart_under_load_503_then_recovery_and_no_lost_write(own_postgres, tmp_path):
    env = service_env(own_postgres.database, DATABASE_URL=own_postgres.url)
    admin_password = remember_secret("pg-restart-admin-password-7Q!")
    commands = [["migrate_schemas", "--shared", "-v", "0"]]
    for slug in SLUGS:
        commands.append(
            ["provision_tenant", "--slug", slug, "--name", slug]
            + ["--admin-email", f"admin@{slug}.test", "--admin-password", admin_password, "--json"]
        )
        commands.append(["register_client", "--tenant", slug, "--name", "Loaded", "--json"])
    printed = _manage(env, *commands)
    schemas = {slug: printed[2 * i]["schema"] for i, slug in enumerate(SLUGS)}
    clients = {slug: printed[2 * i + 1] for i, slug in enumerate(SLUGS)}
    for client in clients.values():
        remember_secret(client["client_secret"])

    server = LiveServer(
        own_postgres.database,
        tmp_path,
        workers=2,
        env={
            "DATABASE_URL": own_postgres.url,
            "DATABASE_CONN_MAX_AGE": "60",
            "DATABASE_CONNECT_TIMEOUT": "1",
        },
        name="gunicorn-pg-restart",
        args=("-c", "python:gatehouse.gunicorn_conf"),  # as the image and the chart run it
    )
    load = Load(
        [
            (
                slug,
                server.url(f"{slug}.gatehouse.test", "/oauth/token"),
                (clients[slug]["client_id"], clients[slug]["client_secret"]),
            )
            for slug in SLUGS
        ]
    )
    threads = [threading.Thread(target=load.run, daemon=True) for _ in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        _wait_for(lambda: load.count("before", 200) >= 3 * THREADS, "tokens before the stop")

        started = time.monotonic()
        load.phase = "down"
        own_postgres.stop()
        stopped = time.monotonic()
        _wait_for(lambda: load.failures("down") >= 2 * THREADS, "failures while it is down")

        seen = time.monotonic()
        own_postgres.start()
        load.phase = "after"
        restarted = time.monotonic()
        _wait_for(lambda: load.count("after", 200) >= 5 * THREADS, "tokens after the restart")
        recovered = time.monotonic()
        print(
            f"\npg restart: stop {stopped - started:.1f} s, outage seen {seen - stopped:.1f} s, "
            f"start {restarted - seen:.1f} s, 200s again {recovered - restarted:.1f} s"
        )
    finally:
        load.stopped.set()
        for thread in threads:
            thread.join(40)
        server.stop()

    answers = list(load.answers)
    log = server.log_path.read_text()
    unexpected = [a for a in answers if a.status not in (200, 503)]
    assert not unexpected, (unexpected[:3], log[-3000:])

    outage = [a for a in answers if a.status == 503]
    assert outage, "PostgreSQL was stopped but no request noticed"
    for answer in outage:
        assert answer.retry_after == "5", answer
        assert answer.content_type.startswith("application/json"), answer
        assert json.loads(answer.body)["error"] == "temporarily_unavailable", answer

    # Recovery without restarting the app: after a bounded number of failures once
    # PostgreSQL is back, every answer is a 200 again.
    after = [a.status for a in answers if a.phase == "after"]
    last_failure = max((i for i, status in enumerate(after) if status != 200), default=-1)
    assert last_failure < RECOVERY_RETRIES * THREADS, after
    assert after[last_failure + 1 :].count(200) >= 5 * THREADS

    # No lost write: every token answered 200 is a row in its own tenant's schema, and no
    # row is in the other's (a reconnection on the wrong search_path would put it there).
    issued = {slug: set() for slug in SLUGS}
    for answer in answers:
        if answer.status == 200:
            issued[answer.tenant].add(digest(answer.access_token))
    with psycopg.connect(
        host="127.0.0.1", port=own_postgres.port, user="postgres", dbname=own_postgres.database
    ) as db:
        stored = {
            slug: {
                row[0]
                for row in db.execute(f'SELECT access_digest FROM "{schemas[slug]}".oauth_token')
            }
            for slug in SLUGS
        }
    for slug, other in (SLUGS, SLUGS[::-1]):
        missing = issued[slug] - stored[slug]
        assert not missing, f"{slug}: {len(missing)} of {len(issued[slug])} tokens have no row"
        assert not issued[slug] & stored[other], f"{slug}: tokens written into {other}"
    print(
        f"\npg restart: {len(answers)} answers, {sum(map(len, issued.values()))} tokens "
        "issued and stored, "
        f"{len(outage)} x 503, {last_failure + 1} answers after the restart before steady 200s"
    )


def _wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
