"""Real Celery workers and beat for worker tests: ``celery -A workers <command>`` in its
own process group, on the test database and the test run's Redis database (REDIS_URL),
logging to a file the log guard watches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import redis
from django.conf import settings

from tests.support.live import REPO, free_port, service_env
from tests.support.secrets import watch_log_file

BROKER_KEYS = ("celery", "unacked", "unacked_index", "unacked_mutex")


def wait_until(predicate, *, timeout: float = 20.0, interval: float = 0.05, message: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {message}")
        time.sleep(interval)


class CeleryProcess:
    """``celery -A workers <command>`` as operators start it, stoppable and SIGKILL-able."""

    ready_marker = ""

    def __init__(self, database_name: str, log_dir: Path, args: list[str], **env: str) -> None:
        self.log_path = log_dir / f"celery-{args[0]}-{free_port()}.log"
        self.log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", *args, "--loglevel", "INFO"],
            cwd=REPO,
            env=service_env(database_name, REDIS_URL=settings.REDIS_URL, **env),
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a SIGKILL takes the children too
        )
        watch_log_file(self.log_path)
        wait_until(self._ready, timeout=30, message=f"celery {args[0]} did not become ready")

    def log(self, since: int = 0) -> str:
        """The worker's log, from byte offset ``since`` (see ``log_size``)."""
        with self.log_path.open("rb") as fh:
            fh.seek(since)
            return fh.read().decode("utf-8", "replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"celery exited: {self.log()[-3000:]}")
        return self.ready_marker in self.log()

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as an OOM killer would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log_file.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log_file.close()


class CeleryWorker(CeleryProcess):
    ready_marker = " ready."

    def __init__(self, database_name: str, log_dir: Path, *, concurrency: int = 2, **env):
        name = f"gh-test-{os.getpid()}-{free_port()}@%h"
        args = ["worker", "--pool", "prefork", "--concurrency", str(concurrency)]
        args += ["--without-gossip", "--without-mingle", "--hostname", name]
        super().__init__(database_name, log_dir, args, **env)


class CeleryBeat(CeleryProcess):
    ready_marker = "beat: Starting"

    def __init__(self, database_name: str, log_dir: Path, **env):
        schedule = log_dir / f"celerybeat-schedule-{free_port()}"
        super().__init__(database_name, log_dir, ["beat", "--schedule", str(schedule)], **env)


@contextmanager
def broker_unreachable():
    """This process's Celery app sends to a loopback port nothing listens on, as if its
    broker were down; Redis itself, and the workers and other tests on it, are untouched."""
    from workers.app import app

    saved = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    try:
        yield
    finally:
        app.conf.broker_url = saved


def broker() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def clear_broker() -> None:
    from workers.reporting import PURGE_BACKLOG_KEY

    broker().delete(*BROKER_KEYS, PURGE_BACKLOG_KEY)


def queue_idle() -> bool:
    """Nothing queued and nothing delivered but unacknowledged."""
    client = broker()
    return client.llen("celery") == 0 and client.hlen("unacked") == 0


def make_worker_factory(database_name: str, log_dir: Path):
    started: list[CeleryProcess] = []
    clear_broker()

    def start(kind: type[CeleryProcess] = CeleryWorker, **kwargs) -> CeleryProcess:
        process = kind(database_name, log_dir, **kwargs)
        started.append(process)
        return process

    yield start
    for worker in started:
        worker.stop()
    clear_broker()


def assert_worker_log_clean(worker: CeleryWorker, since: int = 0) -> None:
    text = worker.log(since)
    for marker in ("Traceback", "ERROR/", "raised unexpected", "Retry in"):
        assert marker not in text, f"worker log has {marker!r}:\n{text[-3000:]}"
