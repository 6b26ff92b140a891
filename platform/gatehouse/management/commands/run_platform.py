"""``manage.py run_platform``: the README's first command, after the environment exists.

Makes sure PostgreSQL and Redis are up, migrates shared and tenant schemas, provisions the
demo tenant (re-running is safe), starts web (gunicorn), a Celery worker and beat together,
prints URLs and credentials, and stops everything it started on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from gatehouse import demo
from gatehouse.devstack import ServiceError, Services, ensure_database

REPO = Path(settings.REPO_ROOT)


class Command(BaseCommand):
    help = "Run the whole platform locally: web, worker and beat, with a demo tenant."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--bind", default="127.0.0.1")
        parser.add_argument(
            "--setup-only", action="store_true", help="prepare and print, start no processes"
        )
        parser.add_argument("--json", action="store_true", help="with --setup-only")

    def handle(self, *args, **options):
        services = Services()
        try:
            services.ensure_postgresql(os.environ.get("DATABASE_URL", "postgres://127.0.0.1"))
            services.ensure_redis(settings.REDIS_URL)
            ensure_database(settings.DATABASES["default"])
        except (ServiceError, OSError) as exc:
            services.stop_started()
            raise CommandError(str(exc)) from None

        try:
            self._migrate()
            info = demo.ensure_demo(port=options["port"])
        except Exception:
            services.stop_started()
            raise
        connection.close()

        if options["setup_only"]:
            info["setup_only"] = True
            if options["json"]:
                self.stdout.write(json.dumps(info, sort_keys=True))
            else:
                self._print(info)
            services.stop_started()
            return
        self._serve(options, info, services)

    def _migrate(self) -> None:
        self.stderr.write("Migrating shared and tenant schemas...")
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0)

    def _serve(self, options, info, services: Services) -> None:
        run_dir = REPO / ".run"
        prom_dir = run_dir / "prometheus"
        prom_dir.mkdir(parents=True, exist_ok=True)
        for stale in prom_dir.glob("*.db"):
            stale.unlink()
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings.dev")
        env["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)
        env["GATEHOUSE_PUBLIC_PORT"] = str(options["port"])
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "platform")])
        bin_dir = Path(sys.executable).parent
        commands = {
            "web": [
                str(bin_dir / "gunicorn"),
                "--config",
                "python:gatehouse.gunicorn_conf",
                "gatehouse.wsgi",
                "--bind",
                f"{options['bind']}:{options['port']}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--worker-tmp-dir",
                "/dev/shm",
                "--access-logfile",
                "-",
            ],
            "worker": [
                str(bin_dir / "celery"),
                "-A",
                "workers",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
            ],
            "beat": [
                str(bin_dir / "celery"),
                "-A",
                "workers",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(run_dir / "celerybeat-schedule"),
            ],
        }
        processes = {
            name: subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True)
            for name, cmd in commands.items()
        }
        self.stderr.write(
            "started " + ", ".join(f"{name} (pid {p.pid})" for name, p in processes.items())
        )
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        time.sleep(1.5)
        self._print(info)
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with {process.returncode}; stopping.")
                        stopping = True
                time.sleep(0.5)
        finally:
            self.stderr.write("Stopping web, worker and beat...")
            for process in processes.values():
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            services.stop_started()

    def _print(self, info: dict) -> None:
        lines = [
            "",
            "Gatehouse is ready." if info.get("setup_only") else "Gatehouse is running.",
            "",
        ]
        lines += [f"  {label:<22} {value}" for label, value in demo.describe(info)]
        lines.append(f"  {'Mail (reset, verify)':<22} {_mail_destination()}")
        lines += ["", "Ctrl-C stops web, worker and beat.", ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()


def _mail_destination() -> str:
    """Where mail goes (EMAIL_URL): a folder in development, so reset links can be opened."""
    mailer = settings.MAILERS.get("default", {})
    folder = mailer.get("OPTIONS", {}).get("file_path")
    if folder:
        return f"files in {folder}"
    if mailer.get("BACKEND", "").endswith("console.EmailBackend"):
        return "printed by the web process"
    return "SMTP (EMAIL_URL)"
