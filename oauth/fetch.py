"""Fetching a JSON document another server hosts, without becoming a proxy into our network
(Client ID Metadata Documents, draft-ietf-oauth-client-id-metadata-document §6; RFC 7591
§5 for ``jwks_uri``; the SSRF advice of RFC 9700 §4.14 and OWASP).

The rules, each because a client names the URL and we make the request:

- https only, no userinfo, no fragment;
- the host is resolved once and every address checked: anything not globally routable
  (private, loopback, link-local with the cloud metadata address, CGNAT, multicast,
  reserved, IPv4-mapped forms of those) is refused. ``GATEHOUSE["DOCUMENT_FETCH"]
  ["ALLOW_LOOPBACK"]`` lets loopback through for development and tests only;
- the connection goes to the checked address itself (TLS still verifies the certificate for
  the host name), so a second DNS answer cannot swap in another address (DNS rebinding);
- redirects are never followed: a 3xx is a failure;
- at most ``MAX_BYTES`` and ``TIMEOUT_SECONDS`` in all;
- answers are cached in Redis per their ``Cache-Control: max-age``, never less than the
  floor nor more than the ceiling; failures are cached for the floor, so a bad document is
  not fetched again on every request. Cache keys carry the tenant's schema (the cache's key
  function, django-tenants' ``make_key``), so one tenant's answers never serve another.

urllib3 rather than our own HTTP code: it lets us connect to an address while verifying the
certificate for a name (``server_hostname``/``assert_hostname``) and read a body in bounded
chunks. Failures are ``FetchError`` with a message that says what to fix; callers turn it into
their OAuth error.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.core.cache import cache

from kernel import credentials
from kernel.conf import setting

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_CHUNK = 4096


class FetchError(Exception):
    """The document could not be fetched or is not JSON; the message says why."""


@dataclass(frozen=True)
class Fetched:
    """A fetched JSON object and how long it may be reused (seconds)."""

    document: dict
    max_age: int


def _options() -> dict:
    return setting("DOCUMENT_FETCH")


def address_allowed(address: str, *, allow_loopback: bool) -> bool:
    """Whether ``address`` is globally routable (or loopback, when allowed)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


def _addresses(host: str, port: int, *, allow_loopback: bool) -> list[str]:
    """The addresses of ``host``, each checked; any refused address refuses the host (a name
    that also resolves to an internal address is not one to trust)."""
    try:
        ipaddress.ip_address(host)
        found = [host]  # a literal is checked as written, never resolved
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise FetchError(f"the host {host} does not resolve") from None
        found = list(dict.fromkeys(info[4][0] for info in infos))
    if not found:
        raise FetchError(f"the host {host} does not resolve")
    for address in found:
        if not address_allowed(address, allow_loopback=allow_loopback):
            raise FetchError(
                f"the host {host} resolves to {address}, an internal address: documents "
                "must be on a public https server"
            )
    return found


def _max_age(headers, floor: int, ceiling: int) -> int:
    control = headers.get("Cache-Control") or ""
    directives = {part.strip().split("=", 1)[0].lower() for part in control.split(",")}
    match = _MAX_AGE.search(control)
    age = 0 if directives & {"no-store", "no-cache"} or not match else int(match.group(1))
    return max(floor, min(ceiling, age))


def _check_url(url: str) -> tuple[str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise FetchError("the URL is not valid") from None
    if parts.scheme != "https" or not parts.hostname:
        raise FetchError("the URL must be https")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise FetchError("the URL must have no user name, password or fragment")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return parts.hostname, port, target


def host_header_for(host: str, port: int, default_port: int = 443) -> str:
    """The ``Host`` header for ``host`` (an IPv6 literal in brackets) on ``port``."""
    if port == default_port:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def https_pool(address: str, port: int, host: str, timeout: float, options: dict):
    """A one-connection pool to the checked ``address`` that verifies the certificate for
    ``host`` (no retries: a failure is the caller's to judge)."""
    return urllib3.HTTPSConnectionPool(
        address,
        port,
        ssl_context=ssl.create_default_context(cafile=options["CA_BUNDLE"] or None),
        server_hostname=host,
        assert_hostname=host,
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        retries=False,
        maxsize=1,
    )


def _get(url: str) -> Fetched:
    options = _options()
    host, port, target = _check_url(url)
    addresses = _addresses(host, port, allow_loopback=options["ALLOW_LOOPBACK"])
    limit, budget = options["MAX_BYTES"], float(options["TIMEOUT_SECONDS"])
    deadline = time.monotonic() + budget
    host_header = host_header_for(host, port)
    last_error = "no address answered"
    for address in addresses:
        pool = https_pool(address, port, host, budget, options)
        try:
            response = pool.urlopen(
                "GET",
                target,
                headers={"Host": host_header, "Accept": "application/json"},
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.SSLError:
            pool.close()
            raise FetchError(f"the TLS certificate of {host} is not valid") from None
        except urllib3.exceptions.HTTPError as error:
            pool.close()
            last_error = type(error).__name__
            continue
        try:
            return _read(response, limit=limit, deadline=deadline, options=options)
        finally:
            response.release_conn()
            pool.close()
    raise FetchError(f"{host} could not be reached ({last_error})")


def _read(response, *, limit: int, deadline: float, options: dict) -> Fetched:
    if 300 <= response.status < 400:
        raise FetchError(f"the server answered a redirect ({response.status}); none is followed")
    if response.status != 200:
        raise FetchError(f"the server answered {response.status}, not 200")
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise FetchError(f"the document is larger than {limit} bytes")
    body = bytearray()
    try:
        while True:
            if time.monotonic() > deadline:
                raise FetchError("the server took too long to send the document")
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            body += chunk
            if len(body) > limit:
                raise FetchError(f"the document is larger than {limit} bytes")
    except urllib3.exceptions.HTTPError:
        raise FetchError("the server took too long to send the document") from None
    try:
        document = json.loads(bytes(body))
    except (UnicodeDecodeError, ValueError):
        raise FetchError("the document is not JSON") from None
    if not isinstance(document, dict):
        raise FetchError("the document is not a JSON object")
    floor, ceiling = options["CACHE_FLOOR_SECONDS"], options["CACHE_CEILING_SECONDS"]
    return Fetched(document=document, max_age=_max_age(response.headers, floor, ceiling))


def _cache_key(purpose: str, url: str) -> str:
    return f"oauth:fetch:{purpose}:{credentials.digest(url)}"


def fetch_json(url: str, *, purpose: str) -> Fetched:
    """The JSON object at ``url``, from the cache while its lifetime lasts.

    ``purpose`` separates what the document is used for (``client-document``, ``jwks``) in
    the cache. A failure is remembered for the cache floor and raised again from there."""
    key = _cache_key(purpose, url)
    cached = cache.get(key)
    if cached is not None:
        if "error" in cached:
            raise FetchError(cached["error"])
        return Fetched(document=cached["document"], max_age=cached["max_age"])
    try:
        fetched = _get(url)
    except FetchError as error:
        cache.set(key, {"error": str(error)}, timeout=_options()["CACHE_FLOOR_SECONDS"])
        raise
    cache.set(
        key, {"document": fetched.document, "max_age": fetched.max_age}, timeout=fetched.max_age
    )
    return fetched


def forget(url: str, *, purpose: str) -> None:
    """Drop the cached answer for ``url`` (the next ``fetch_json`` fetches it again)."""
    cache.delete(_cache_key(purpose, url))
