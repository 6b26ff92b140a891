"""Rate limits of the token (RFC 6749 §3.2), introspection (RFC 7662), revocation (RFC 7009)
and userinfo (OIDC Core §5.3) endpoints: noisy neighbours, floods and secret guessing.

Throttles that cannot be turned against a user. Every counter is one that only the request's
own sender can fill:

- **per client** and **per tenant**, the answers that *succeeded* (2xx). A request is counted
  on arrival (so the check is one atomic ``INCR``) and taken back when it is refused or
  fails, so nobody without the client's secret (or, for a public client, a valid code or
  refresh token) spends its quota, and a flood of bad requests never starves the tenant's
  real clients;
- **per source IP** (``kernel.http.client_ip``), every request: a flood only slows its
  own address;
- **failed client authentications** (401 ``invalid_client``; at userinfo, a refused Bearer
  token), counted separately over a longer window and far more strictly: per source IP,
  and per presented ``client_id`` *from that IP*. Never per ``client_id`` alone: wrong
  secrets sent for a client from one address must not lock the real client out at
  another.

Each endpoint counts on its own (a resource server may introspect far more often than it
asks for tokens); the failure counters are shared, so guessing at one endpoint is not fresh
at another. The counters are ``kernel.ratelimit`` fixed windows in Redis, tenant-prefixed
by the cache's key function, so one tenant's traffic never counts against another's. With
Redis down nothing is limited and issuance goes on (fail open).

Cost: a request that succeeds costs one Redis round trip (one script over every counter); a
refused or failed one costs a second, which takes back its tentative counts.

Defaults are ``GATEHOUSE["RATE_LIMITS"]`` (``kernel.conf``), meant never to be hit by a
normal tenant; a tenant's ``IssuerSettings.rate_limit_*`` fields override them (a plan or
quota set by the operator), read through ``selectors.issuer_policy()``. Dynamic client
registration (RFC 7591), when it comes, takes the same ``admit``/``settle`` pair with its
own endpoint name.

A limited request is answered 429 (RFC 6585 §4) with ``Retry-After`` (RFC 9110 §10.2.3)
and an RFC 6749 §5.2-shaped body. RFC 6749 registers no error code for rate limiting; the
code is ``temporarily_unavailable``, RFC 6749 §4.1.2.1's "unable to handle the request due
to a temporary overloading", which OAuth client libraries already treat as "retry later"
(RFC 8628's ``slow_down`` belongs to device-code polling and would mislead).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.db import connection
from django.http import HttpResponse, JsonResponse

from kernel import credentials
from kernel.conf import setting
from kernel.http import client_ip
from kernel.ratelimit import FixedWindow, PendingTally, tally, tally_begin
from oauth import selectors

ERROR = "temporarily_unavailable"

TOKEN = "token"
INTROSPECTION = "introspection"
REVOCATION = "revocation"
USERINFO = "userinfo"
PAR = "par"

_REASONS = {
    "ip": "Too many requests from this address",
    "client": "Too many requests for this client",
    "tenant": "Too many requests for this issuer",
    "ip_failures": "Too many failed authentications from this address",
    "client_ip_failures": "Too many failed authentications for this client from this address",
}


def limits() -> dict[str, int]:
    """The current tenant's limits: ``GATEHOUSE["RATE_LIMITS"]``, under its plan's quotas
    (the tenant object's ``plan_rate_limits``, when the tenants layer gives it one), under
    the tenant's own overrides (``IssuerSettings.rate_limit_*``)."""
    plan = getattr(getattr(connection, "tenant", None), "plan_rate_limits", None) or {}
    return {**setting("RATE_LIMITS"), **plan, **dict(selectors.issuer_policy().rate_limits)}


def _windows(endpoint: str, numbers: dict) -> dict[str, FixedWindow]:
    window, failures = numbers["WINDOW_SECONDS"], numbers["FAILURE_WINDOW_SECONDS"]
    return {
        "ip": FixedWindow(f"oauth:{endpoint}:ip", numbers["IP_REQUESTS"], window),
        "client": FixedWindow(f"oauth:{endpoint}:client", numbers["CLIENT_REQUESTS"], window),
        "tenant": FixedWindow(f"oauth:{endpoint}:tenant", numbers["TENANT_REQUESTS"], window),
        "ip_failures": FixedWindow("oauth:fail:ip", numbers["IP_AUTH_FAILURES"], failures),
        "client_ip_failures": FixedWindow(
            "oauth:fail:client-ip", numbers["CLIENT_IP_AUTH_FAILURES"], failures
        ),
    }


@dataclass
class Admission:
    """What ``admit`` counted for one request, for ``settle`` to complete or take back."""

    enabled: bool
    windows: dict[str, FixedWindow] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    at: float = 0.0
    #: Counters counted on arrival that only a successful answer keeps.
    tentative: list[str] = field(default_factory=list)
    refused: str = ""
    #: ``admit(defer=True)``: the counts still on their way back (``resolve()`` reads them).
    pending: PendingTally | None = None
    order: list[str] = field(default_factory=list)
    deltas: dict[str, int] = field(default_factory=dict)

    def _change(self, names: list[str], delta: int) -> list[tuple[FixedWindow, str, int]]:
        return [(self.windows[name], self.keys[name], delta) for name in names]

    def resolve(self) -> str:
        """Read the counts (once) and decide: the name of the first limit this request is
        over, or ""; a refused request's tentative counts are taken back at once."""
        pending, self.pending = self.pending, None
        if pending is None:
            return self.refused
        for name, count in zip(self.order, pending.counts(), strict=True):
            # A failure counter is read, not counted: at its limit the next attempt is
            # refused.
            limit = self.windows[name].limit
            over = count >= limit if self.deltas[name] == 0 else count > limit
            if over:
                self.refused = name
                break
        if self.refused:
            tally(self._change(self.tentative, -1), at=self.at)
        return self.refused


def admit(
    request, *, endpoint: str, client_id: str | None = None, defer: bool = False
) -> Admission:
    """Count one request at ``endpoint`` before any database work: in one round trip, its
    source IP, tentatively its presented ``client_id`` and its tenant, and read the failure
    counters. ``refused`` names the first limit it is over, if any.

    ``defer=True`` sends the counts and returns at once: the answer is read by
    ``Admission.resolve()``, which the caller must call before any database or outbound
    work (``oauth.views.endpoints`` does, on the first query), and in any case before it
    answers. The counting is the same atomic script either way."""
    if not setting("RATE_LIMITS")["ENABLED"]:
        return Admission(enabled=False)
    numbers = limits()
    windows = _windows(endpoint, numbers)
    ip = client_ip(request)
    presented = credentials.digest(client_id) if client_id else ""
    keys = {"ip": ip, "tenant": "all", "ip_failures": ip}
    if presented:
        keys |= {"client": presented, "client_ip_failures": f"{presented}:{ip}"}
    # Checked most specific first, so the 429 names the narrowest limit that refused.
    order = [
        n for n in ("ip", "client_ip_failures", "ip_failures", "client", "tenant") if n in keys
    ]
    admission = Admission(enabled=True, windows=windows, keys=keys, at=time.time())
    admission.tentative = [name for name in ("tenant", "client") if name in keys]
    deltas = {"ip": 1, "tenant": 1, "client": 1, "ip_failures": 0, "client_ip_failures": 0}
    admission.order, admission.deltas = order, deltas
    admission.pending = tally_begin(
        [(windows[name], keys[name], deltas[name]) for name in order], at=admission.at
    )
    if not defer:
        admission.resolve()
    return admission


def withdraw(admission: Admission) -> None:
    """Take back everything ``admit`` counted: the request is answered again from the start
    (``selectors.PolicyChanged``), and that answer is counted anew."""
    if not admission.enabled:
        return
    admission.resolve()
    counted = ["ip"] if admission.refused else ["ip", *admission.tentative]
    tally(admission._change([n for n in counted if n in admission.keys], -1), at=admission.at)


def settle(
    admission: Admission,
    response: HttpResponse,
    *,
    authentication_failed: bool,
    client_id: str | None = None,
) -> HttpResponse:
    """Complete the counts once ``response`` is known: a failed answer takes back its
    tentative counts, and a failed authentication is counted per IP and per (client_id, IP).

    ``client_id`` is the client a successful answer turned out to be for, when ``admit``
    could not know it (userinfo: the Bearer token's client); it is counted now, and a
    client over its limit gets the 429 instead of the answer."""
    if not admission.enabled:
        return response
    if admission.resolve():
        return too_many_requests(admission)
    changes = []
    if not 200 <= response.status_code < 300:
        changes += admission._change(admission.tentative, -1)
        if authentication_failed:
            failures = [n for n in ("ip_failures", "client_ip_failures") if n in admission.keys]
            changes += admission._change(failures, 1)
    elif client_id and "client" not in admission.keys:
        admission.keys["client"] = credentials.digest(client_id)
        (count,) = tally(admission._change(["client"], 1), at=admission.at)
        if count > admission.windows["client"].limit:
            admission.refused = "client"
            changes += admission._change(["client", "tenant"], -1)
            response = too_many_requests(admission)
    tally(changes, at=admission.at)
    return response


def too_many_requests(admission: Admission) -> HttpResponse:
    """429 with ``Retry-After`` (the seconds until the refusing window ends) and an RFC 6749
    §5.2-shaped body; never stored by a cache (RFC 6749 §5.1)."""
    retry_after = admission.windows[admission.refused].retry_after()
    response = JsonResponse(
        {
            "error": ERROR,
            "error_description": (
                f"{_REASONS[admission.refused]}; retry after {retry_after} seconds."
            ),
        },
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response
