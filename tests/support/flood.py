"""A bounded token-endpoint flood, run as its own process so that its threads never share
a GIL with the process measuring latency (``tests/oauth/test_rate_limits_live.py``,
``docs/benchmarks.md``).

    python tests/support/flood.py PORT HOST SECONDS MAX_REQUESTS RATE JOB...

Each JOB is ``SOURCE_IP,AUTHORIZATION``: one thread per job, keep-alive connections from
that loopback source address, POSTing client_credentials requests at up to ``RATE`` per
second until ``SECONDS`` pass or ``MAX_REQUESTS`` are sent. Prints a JSON object of status
code -> count. The rate bound keeps the load generator itself from taking the cores it
shares with the server; the flood is still several times what the server can issue.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from collections import Counter

BODY = "grant_type=client_credentials"


def main(
    port: int, host: str, seconds: float, max_requests: int, rate: float, jobs: list[str]
) -> None:
    counts: Counter = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(source: str, authorization: str) -> None:
        mine: Counter = Counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
        headers = {
            "Host": host,
            "Authorization": authorization,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        started = time.monotonic()
        for sent in range(max_requests):
            now = time.monotonic()
            if now >= deadline:
                break
            if now < started + sent / rate:
                time.sleep(started + sent / rate - now)
            try:
                conn.request("POST", "/oauth/token", body=BODY, headers=headers)
                response = conn.getresponse()
                response.read()
                mine[response.status] += 1
            except (OSError, http.client.HTTPException):
                mine["error"] += 1
                conn.close()
        conn.close()
        with lock:
            counts.update(mine)

    threads = [threading.Thread(target=worker, args=job.split(",", 1)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({str(k): v for k, v in counts.items()}))


if __name__ == "__main__":
    port, host, seconds, max_requests, rate, *jobs = sys.argv[1:]
    main(int(port), host, float(seconds), int(max_requests), float(rate), jobs)
