"""A PostgreSQL cluster of the test's own, which the test may stop and start.

Fault tests must not stop the machine's PostgreSQL (other tests and engineers use it), so this
one is made with ``initdb`` in a temp directory and listens on a free loopback port. PostgreSQL
refuses to run as root: as root, every binary runs as ``postgres`` from a directory that user
owns (pytest's own temp directories are private to root), as ``tests/tenants/pooler.py`` does
for PgBouncer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.live import free_port

BINDIR = Path(os.environ.get("GATEHOUSE_PG_BINDIR", "/usr/lib/postgresql/15/bin"))


class OwnPostgres:
    """``initdb`` + ``pg_ctl`` on a free port, trust authentication for user ``postgres``,
    one database ``database``; :meth:`stop` and :meth:`start` take it down and up again on
    the same port and data directory."""

    user = "postgres"

    def __init__(self, database: str = "gatehouse") -> None:
        if not (BINDIR / "initdb").exists():
            raise RuntimeError(f"these tests need PostgreSQL's server binaries in {BINDIR}")
        self.database = database
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gatehouse-postgres-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self._as_postgres = {}
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self._as_postgres = {"user": "postgres", "group": "postgres"}
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8")
        self.start()
        try:
            self._run(
                "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, database
            )
        except BaseException:
            self.remove()
            raise

    def _run(self, binary: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BINDIR / binary), *args],
            check=True,
            capture_output=True,
            cwd=self.dir,
            **self._as_postgres,
        )

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        deadline = time.monotonic() + 30
        while not self.accepting():
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """A fast shutdown: open sessions are terminated, as in a restart or failover."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def accepting(self) -> bool:
        ready = subprocess.run(
            [str(BINDIR / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
        )
        return ready.returncode == 0

    def remove(self) -> None:
        if self.accepting():
            subprocess.run(
                [str(BINDIR / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                check=False,
                capture_output=True,
                **self._as_postgres,
            )
        shutil.rmtree(self.dir, ignore_errors=True)
