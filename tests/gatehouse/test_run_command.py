"""The README's run command: demo tenant ready, web + worker + beat up, Ctrl-C stops them."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.live import free_port, service_env
from tests.support.secrets import remember_secret

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _env(db_name: str) -> dict:
    env = service_env(
        db_name,
        DJANGO_SETTINGS_MODULE="gatehouse.settings.dev",
        GATEHOUSE_BASE_DOMAIN="localhost",
        REDIS_URL="redis://127.0.0.1:6379/14",
    )
    for name in ("GATEHOUSE_PUBLIC_PORT", "GATEHOUSE_PUBLIC_SCHEME", "AUTHLIB_INSECURE_TRANSPORT"):
        env.pop(name, None)
    return env


def test_setup_only_is_idempotent_and_prints_credentials(live_server_db_name, two_tenants):
    from gatehouse import demo

    for secret in (demo.DEMO_ADMIN_PASSWORD, demo.DEMO_USER_PASSWORD, demo.DEMO_OPERATOR_PASSWORD):
        remember_secret(secret)
    runs = [
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "run_platform",
                "--setup-only",
                "--json",
                "--port",
                "8123",
            ],
            cwd=REPO,
            env=_env(live_server_db_name),
            capture_output=True,
            text=True,
            timeout=180,
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second = (json.loads(run.stdout) for run in runs)
    for info in (first, second):
        remember_secret(info["clients"]["service"]["client_secret"])
    # Same tenant, users and clients; only the printed service secret is new each run.
    first_secret = first["clients"]["service"].pop("client_secret")
    assert second["clients"]["service"].pop("client_secret") != first_secret
    assert first == second
    assert first["issuer"] == "http://acme.localhost:8123"
    assert first["admin"]["password"] == demo.DEMO_ADMIN_PASSWORD


@pytest.mark.slow
def test_run_starts_web_worker_beat_and_ctrl_c_stops_them(
    live_server_db_name, two_tenants, tmp_path, commit
):
    from gatehouse import demo

    port = free_port()
    log = tmp_path / "run.log"
    env = _env(live_server_db_name)
    env["GATEHOUSE_PURGE_INTERVAL_SECONDS"] = "10"  # the shortest beat interval allowed
    with log.open("wb") as out:
        runner = subprocess.Popen(
            [sys.executable, "manage.py", "run_platform", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        text = ""
        while time.monotonic() < deadline:
            text = log.read_text()
            if "Gatehouse is running." in text and "ready." in text and "beat: Starting" in text:
                break
            assert runner.poll() is None, text
            time.sleep(0.3)
        assert "Gatehouse is running." in text, text
        assert "ready." in text and "beat: Starting" in text, text
        assert f"http://acme.localhost:{port}" in text
        pids = {name: int(pid) for name, pid in re.findall(r"(\w+) \(pid (\d+)\)", text)}
        assert set(pids) == {"web", "worker", "beat"}

        acme = {"Host": f"acme.localhost:{port}"}
        page = requests.get(f"http://127.0.0.1:{port}/", headers=acme, timeout=10)
        assert page.status_code == 200 and "Acme" in page.text

        # The printed demo service client works over the wire.
        service_id, secret = re.search(r"Demo service client\s+(\S+) / (\S+)", text).groups()
        remember_secret(secret)
        token = requests.post(
            f"http://127.0.0.1:{port}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(service_id, secret),
            headers=acme,
            timeout=10,
        )
        assert token.status_code == 200, token.text

        # The worker and beat it started purge the demo tenant's expired tokens.
        expired, live = _seed_demo_tokens(commit, service_id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _tokens_left(commit, [expired]):
            time.sleep(1)
        assert _tokens_left(commit, [expired]) == 0
        assert _tokens_left(commit, [live]) == 1
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(60)
    assert runner.returncode == 0
    time.sleep(0.5)
    assert not [name for name, pid in pids.items() if _alive(pid)]
    # The demo credentials are printed on purpose, in the banner, and nowhere else.
    demo_secrets = {demo.DEMO_ADMIN_PASSWORD, demo.DEMO_USER_PASSWORD, demo.DEMO_OPERATOR_PASSWORD}
    banner_start = text.index("Gatehouse is running.")
    banner_end = text.index("Ctrl-C stops web, worker and beat.")
    outside_banner = text[:banner_start] + log.read_text()[banner_end:]
    assert not [s for s in demo_secrets if s in outside_banner]


def _seed_demo_tokens(commit, client_id: str) -> tuple[str, str]:
    """One token past its purge time and one still needed, in the demo tenant."""
    import secrets
    from datetime import timedelta

    from django.utils import timezone
    from django_tenants.utils import schema_context

    from oauth.models import Client, Token

    now = timezone.now()
    digests = (secrets.token_hex(32), secrets.token_hex(32))
    with commit(), schema_context("acme"):
        client = Client.objects.get(client_id=client_id)
        for digest, offset in zip(digests, (-1, 1), strict=True):
            Token.objects.create(
                client=client,
                access_digest=digest,
                issued_at=now - timedelta(days=3),
                access_expires_at=now + timedelta(days=offset),
                purge_after=now + timedelta(days=offset),
            )
    return digests


def _tokens_left(commit, digests: list[str]) -> int:
    from django_tenants.utils import schema_context

    from oauth.models import Token

    with commit(), schema_context("acme"):
        return Token.objects.filter(access_digest__in=digests).count()
