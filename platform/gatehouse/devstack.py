"""Local services for the run command: find PostgreSQL and Redis, or start them.

Uses DATABASE_URL / REDIS_URL when reachable; otherwise starts the machine's own servers from
binaries on PATH and remembers what it started so it can stop exactly that.
"""

from __future__ import annotations

import glob
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psycopg
from psycopg import sql


class ServiceError(RuntimeError):
    """A service that could not be reached or started; the message says what to install."""


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if reachable(host, port):
            return True
        time.sleep(0.2)
    return False


@dataclass
class Services:
    stop_commands: list[list[str]] = field(default_factory=list)

    def ensure_postgresql(self, url: str) -> None:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 5432
        if reachable(host, port):
            return
        if host not in {"127.0.0.1", "localhost"}:
            raise ServiceError(f"PostgreSQL at {host}:{port} is not reachable; check DATABASE_URL")
        versions = sorted(glob.glob("/etc/postgresql/*"))
        if shutil.which("pg_ctlcluster") and versions:
            version = versions[-1].rsplit("/", 1)[1]
            start = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"]
            subprocess.run(start, check=False, capture_output=True)
            if _wait(host, port, 15):
                stop = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop"]
                self.stop_commands.append(stop)
                return
        raise ServiceError(
            f"PostgreSQL is not running on {host}:{port} and could not be started. Install it "
            "(Debian: apt-get install postgresql) or set DATABASE_URL to a reachable server."
        )

    def ensure_redis(self, url: str) -> None:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 6379
        if reachable(host, port):
            return
        if host not in {"127.0.0.1", "localhost"}:
            raise ServiceError(f"Redis at {host}:{port} is not reachable; check REDIS_URL")
        if shutil.which("redis-server"):
            subprocess.run(
                [
                    "redis-server",
                    "--daemonize",
                    "yes",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                check=False,
                capture_output=True,
            )
            if _wait(host, port, 10):
                self.stop_commands.append(["redis-cli", "-p", str(port), "shutdown", "nosave"])
                return
        raise ServiceError(
            f"Redis is not running on {host}:{port} and could not be started. Install it "
            "(Debian: apt-get install redis-server) or set REDIS_URL to a reachable server."
        )

    def stop_started(self) -> None:
        for command in reversed(self.stop_commands):
            subprocess.run(command, check=False, capture_output=True)
        self.stop_commands.clear()


def ensure_database(settings_dict: dict) -> bool:
    """Create the configured database if it does not exist. Returns True if created."""
    params = {
        "host": settings_dict.get("HOST") or "127.0.0.1",
        "port": settings_dict.get("PORT") or 5432,
        "user": settings_dict.get("USER") or "postgres",
        "password": settings_dict.get("PASSWORD") or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [settings_dict["NAME"]]
        ).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings_dict["NAME"])))
        return True
