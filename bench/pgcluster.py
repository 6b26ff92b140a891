"""The benchmark's own PostgreSQL cluster, set up for 1,000 tenant schemas.

``bench/run.py`` runs every server (Gatehouse and its peers) against one cluster of its own,
started from the machine's PostgreSQL binaries (Debian's ``postgresql``) with its data in the
working folder, so that the figures do not depend on how the machine's own server happens to
be configured, and a fresh machine reproduces them.

Two settings differ from PostgreSQL's defaults, both measured (docs/benchmarks.md, "PostgreSQL
at 1,000 tenants"):

- ``max_files_per_process``: every relation a backend touches is a file it keeps open, and
  with persistent connections one backend serves every tenant. Each tenant's token INSERT
  touches about thirty files (the token table, its indexes, the client table and its
  indexes, their free-space maps); at the default 1,000, a backend serving 1,000 tenants
  closed and reopened files on every request (strace of one backend under the many-tenant
  client_credentials load: 21,478 ``openat`` and 21,461 ``close`` in 3 s, for 706 commits).
- ``shared_buffers``: the default 128 MB cannot hold the hot pages of 1,000 tenants (each
  tenant's last heap page and index leaves); backends then read pages back from the OS and
  write dirty ones out themselves (11,618 ``pread64`` and 7,405 ``pwrite64`` in the same 3 s).

Everything else is PostgreSQL's default (``fsync``, ``synchronous_commit`` on: every token is
durable when answered, as on the machine's server).
"""

from __future__ import annotations

import os
import pwd
import resource
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PORT = int(os.environ.get("BENCH_PG_PORT", "5439"))
#: Settings of the cluster; see the module docstring for why each differs from the default.
SETTINGS = {
    "shared_buffers": "1GB",
    "max_files_per_process": "19000",
    "max_connections": "100",
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
}


def binaries() -> Path:
    """The newest installed PostgreSQL's bin folder (``/usr/lib/postgresql/<major>/bin``)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3])
    )
    if not found:
        raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql")
    return found[-1].parent


def _as_postgres() -> list[str]:
    """initdb and postgres refuse to run as root: run them as the ``postgres`` user then."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def _open_files() -> str:
    """``soft:hard`` open-files limit for the postmaster: room for ``max_files_per_process``
    (PostgreSQL uses fewer when the limit is lower: ``max_safe_fds``), within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = int(SETTINGS["max_files_per_process"]) + 1000
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    return f"{max(soft, wanted)}:{hard if hard != resource.RLIM_INFINITY else 'unlimited'}"


def url(port: int = PORT) -> str:
    return f"postgres://postgres@127.0.0.1:{port}/"


@contextmanager
def cluster(folder: Path, port: int = PORT) -> Iterator[str]:
    """A running cluster with its data in ``folder`` (made by initdb the first time, kept for
    a later run on the same working folder); yields its base URL; stopped on exit."""
    bin_dir = binaries()
    data = folder / "pgdata"
    folder.mkdir(parents=True, exist_ok=True)
    runner = _as_postgres()
    if runner:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    if not (data / "PG_VERSION").exists():
        if data.exists():
            shutil.rmtree(data)
        subprocess.run(
            [*runner, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    options = " ".join(f"-c {k}={v!r}" if v == "" else f"-c {k}={v}" for k, v in SETTINGS.items())
    log = folder / "postgres.log"
    if runner:
        log.touch()
        os.chown(log, owner.pw_uid, owner.pw_gid)
    # The limit is raised in the process that becomes the postmaster: runuser's PAM session
    # resets the caller's, so it is set again after it, with ``prlimit``.
    subprocess.run(
        [*runner, "prlimit", f"--nofile={_open_files()}", str(bin_dir / "pg_ctl"), "-D",
         str(data), "-l", str(log), "-w", "-o", f"-p {port} {options}", "start"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait(bin_dir, port)
        yield url(port)
    finally:
        subprocess.run(
            [*runner, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False, stdout=subprocess.DEVNULL,
        )  # fmt: skip


def _wait(bin_dir: Path, port: int) -> None:
    for _ in range(100):
        ready = subprocess.run(
            [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise SystemExit(f"the bench's PostgreSQL did not start on port {port}")
