"""gunicorn started as every deployment starts it (``-c python:gatehouse.gunicorn_conf``):
a configuration error stops it at once with one line, and a trickled request is cut at its
deadline while other requests are served."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.support.live import REPO, LiveServer, free_port, service_env

pytestmark = [pytest.mark.live, pytest.mark.slow]

CONF = "python:gatehouse.gunicorn_conf"


def gunicorn(port: int, env: dict[str, str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", CONF, "gatehouse.wsgi"]
        + ["--bind", f"127.0.0.1:{port}", "--worker-tmp-dir", "/dev/shm", *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    "bad,expected",
    [
        ({"SECRET_KEY": "short"}, "gatehouse: configuration error: SECRET_KEY"),
        ({"GATEHOUSE_PUBLIC_PORT": "eighty"}, "gatehouse: configuration error: "),
    ],
)
def test_a_configuration_error_stops_gunicorn_with_one_line(live_server_db_name, bad, expected):
    env = service_env(live_server_db_name, **bad)
    process = gunicorn(free_port(), env, "--workers", "2")
    try:
        _, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        pytest.fail(f"gunicorn kept running with a bad configuration:\n{stderr[-1500:]}")
    assert process.returncode != 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    # gunicorn's own "Starting gunicorn" line, then the error, alone on its line, and nothing
    # after it: no worker was ever booted.
    assert lines[-1].startswith(expected), stderr
    assert [line for line in lines if "error" in line.lower()] == [lines[-1]], stderr
    assert "Booting worker" not in stderr and "Traceback" not in stderr


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1024, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_a_trickled_body_is_dropped_at_the_deadline_while_others_are_served(
    tmp_path, two_tenants, live_server_db_name
):
    """One worker with four threads, two clients trickling a body a byte at a time: another
    request is served meanwhile, and each trickle is cut within the deadline."""
    deadline = 3.0
    server = LiveServer(
        live_server_db_name,
        tmp_path,
        workers=1,
        env={"GUNICORN_REQUEST_DEADLINE": str(deadline), "GUNICORN_CMD_ARGS": f"-c {CONF}"},
    )
    head = (
        b"POST /oauth/token HTTP/1.1\r\nHost: alpha.gatehouse.test\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000\r\n\r\n"
    )
    trickles = []
    try:
        started = time.monotonic()
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(head)
            trickles.append(sock)
        closed_at: dict[int, float] = {}
        served_meanwhile = None
        while len(closed_at) < len(trickles) and time.monotonic() - started < deadline * 4:
            for index, sock in enumerate(trickles):
                if index in closed_at:
                    continue
                if _closed_by_server(sock):
                    closed_at[index] = time.monotonic() - started
                    continue
                try:
                    sock.sendall(b"a")
                except OSError:
                    closed_at[index] = time.monotonic() - started
            if served_meanwhile is None and time.monotonic() - started > 1:
                served_meanwhile = requests.get(
                    server.url("alpha.gatehouse.test", "/healthz"), timeout=5
                ).status_code
            time.sleep(0.25)
        assert served_meanwhile == 200
        assert len(closed_at) == 2, "a trickled request kept its thread past the deadline"
        assert all(at < deadline + 6 for at in closed_at.values()), closed_at
        # The threads are free again: the pod answers at once.
        answered = time.monotonic()
        ok = requests.get(server.url("alpha.gatehouse.test", "/healthz"), timeout=5)
        assert ok.status_code == 200 and time.monotonic() - answered < 2
    finally:
        for sock in trickles:
            sock.close()
        server.stop()
