"""gunicorn's configuration for every place that starts the web process:
``gunicorn -c python:gatehouse.gunicorn_conf gatehouse.wsgi`` (Helm, the image, ``run_platform``).

Two things gunicorn does not do by itself:

* **A bad configuration stops the process.** The settings raise ``kernel.env.ConfigError``
  (a ``SystemExit`` with one line) when, say, ``SECRET_KEY`` is too short. Raised in a worker,
  that is an ordinary worker exit, and the arbiter respawns workers forever while the pod,
  whose master is alive, looks healthy to everything but its readiness probe. ``on_starting``
  therefore loads the settings in the master, before any socket or worker exists, and a bad
  configuration exits there with its one line on stderr.

* **A client that trickles its request cannot hold a thread for ever.** With gthread workers
  the main thread keeps the worker's heartbeat, so ``timeout`` never fires for a thread
  blocked reading a slow request; once a request's first bytes arrive gunicorn reads headers
  and body with a blocking socket and no deadline (``gunicorn/workers/gthread.py``
  ``handle``). ``DeadlineThreadWorker`` gives each request ``GUNICORN_REQUEST_DEADLINE``
  seconds on its thread, from its first byte to its last response byte; past it the
  connection is shut down, which wakes the blocked read and frees the thread. Gatehouse's
  requests take milliseconds (a password hash, a few hundred); the deadline is about
  clients, not work. An ingress in front of the pods should still buffer request bodies
  (ingress-nginx does by default, ``nginx.ingress.kubernetes.io/proxy-request-buffering:
  "on"``), so that a slow body costs the proxy a buffer and the pod nothing.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

from django.conf import settings
from gunicorn.workers.gthread import ThreadWorker

# The same default as gatehouse.wsgi, so the master checks the settings the workers load.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings.dev")

#: Seconds a request may hold a worker thread, first byte to last (see DeadlineThreadWorker).
REQUEST_DEADLINE = float(os.environ.get("GUNICORN_REQUEST_DEADLINE", "30"))

worker_class = "gatehouse.gunicorn_conf.DeadlineThreadWorker"
threads = 4
# Heartbeat: a worker process that stops answering its master for this long is replaced.
timeout = 30
# A stopping worker finishes its requests within this (Kubernetes waits 30 s before SIGKILL).
graceful_timeout = 20
# Idle kept-alive connections wait in the worker's poller, not on a thread, so a long idle
# time costs no thread. Longer than ingress-nginx's upstream keep-alive (60 s): the proxy must
# be the one to close an idle connection, or it may reuse one gunicorn just closed (a 502).
keepalive = 75
# Header limits (gunicorn's defaults, stated): bounds what a trickled header may be.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190


def on_starting(server) -> None:
    """Load the settings in the master: a configuration error stops gunicorn with its one
    line, instead of every worker failing the same way in a respawn loop."""
    try:
        settings.SECRET_KEY  # noqa: B018 -- imports the settings module, every env check
    except SystemExit as exc:  # kernel.env.ConfigError: its message is the line
        _stop(str(exc.code))
    except Exception as exc:  # an ImproperlyConfigured or a typo in a settings module
        _stop(f"gatehouse: configuration error: {type(exc).__name__}: {exc}")


def _stop(line: str) -> None:
    sys.stderr.write(line.splitlines()[0] if line else "gatehouse: configuration error")
    sys.stderr.write("\n")
    sys.stderr.flush()
    # gunicorn's own code for "the application could not be loaded" (Arbiter.APP_LOAD_ERROR);
    # raised before the arbiter's main loop, it ends the master before any worker exists.
    raise SystemExit(4)


class DeadlineThreadWorker(ThreadWorker):
    """gthread, with a deadline per request on its thread (see the module docstring).

    One watchdog thread per worker looks at the requests in progress twice a second and shuts
    down the socket of any past its deadline: the blocked ``recv`` returns, gunicorn sees the
    client gone and closes the connection; the thread goes back to the pool."""

    def run(self) -> None:
        self._deadlines: dict = {}
        self._deadlines_lock = threading.Lock()
        threading.Thread(target=self._watch, name="request-deadline", daemon=True).start()
        super().run()

    def handle(self, conn):
        with self._deadlines_lock:
            self._deadlines[conn] = time.monotonic() + REQUEST_DEADLINE
        try:
            return super().handle(conn)
        finally:
            with self._deadlines_lock:
                self._deadlines.pop(conn, None)

    def _watch(self) -> None:
        while self.alive:
            time.sleep(0.5)
            now = time.monotonic()
            with self._deadlines_lock:
                late = [conn for conn, deadline in self._deadlines.items() if deadline <= now]
                for conn in late:
                    del self._deadlines[conn]
            for conn in late:
                self.log.warning("Request from %s exceeded its deadline; closing", conn.client)
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
