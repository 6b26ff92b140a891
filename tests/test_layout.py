"""platform/ must never become a package: it would shadow the stdlib ``platform`` module."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _env(**extra):
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra)
    return env


def test_platform_folder_is_not_a_package():
    assert (REPO / "platform" / "gatehouse" / "__init__.py").exists()
    assert not (REPO / "platform" / "__init__.py").exists()


def test_stdlib_platform_under_pytest():
    import platform

    assert Path(platform.__file__).parent == Path(os.__file__).parent
    assert platform.system() == "Linux"


def test_stdlib_platform_under_manage_py():
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            "import platform; print(platform.system(), platform.__file__)",
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    system, path = result.stdout.splitlines()[-1].split()
    assert system == "Linux" and "site-packages" not in path and "/platform/" not in path


@pytest.mark.slow
def test_celery_worker_starts_and_reports_platform(tmp_path):
    celery = str(Path(sys.executable).parent / "celery")
    report = subprocess.run(
        [celery, "-A", "workers", "report"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    assert "system:Linux" in report.stdout.replace(" ", "")

    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [
            celery,
            "-A",
            "workers",
            "worker",
            "--pool",
            "solo",
            "--queues",
            "platform-guard",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
            "--logfile",
            str(log),
        ],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if log.exists() and "ready." in log.read_text():
                break
            time.sleep(0.2)
        assert worker.poll() is None, log.read_text() if log.exists() else "no log"
        assert "ready." in log.read_text()
    finally:
        worker.terminate()
        worker.wait(15)
