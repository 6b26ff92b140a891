"""HTTP helpers every layer shares: the client's address and URL origins."""

from __future__ import annotations

from kernel.conf import setting

_DEFAULT_PORTS = {"http": 80, "https": 443}


def client_ip(request) -> str:
    """The client's IP address. Behind ``GATEHOUSE["TRUSTED_PROXY_COUNT"]`` proxies (an
    ingress), the address that the outermost trusted proxy saw, from X-Forwarded-For;
    otherwise the socket's peer. Without it, every client behind an ingress would share the
    ingress's address and one rate-limit counter."""
    hops = int(setting("TRUSTED_PROXY_COUNT"))
    if hops:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops][:64]
    return request.META.get("REMOTE_ADDR") or "unknown"


def origin(scheme: str, host: str, port: int | str | None = None) -> str:
    """``scheme://host[:port]``, the port left out when it is the scheme's default (RFC 6454
    §4 serialisation; an OAuth issuer is such an origin, RFC 8414 §2). The one builder of
    issuer and public-site URLs: ``host`` may already carry a port (a request's Host)."""
    port = int(port) if port else None
    if port is None and ":" in host and not host.endswith("]"):
        name, _, given = host.rpartition(":")
        if given.isdigit():
            host, port = name, int(given)
    suffix = f":{port}" if port and port != _DEFAULT_PORTS.get(scheme) else ""
    return f"{scheme}://{host}{suffix}"


def public_url(host: str, *, port: int | None = None) -> str:
    """The external URL of ``host`` outside a request (CLI output, the run command): the
    configured public scheme and port (``GATEHOUSE["PUBLIC_SCHEME"]``, ``PUBLIC_PORT``)."""
    return origin(setting("PUBLIC_SCHEME"), host, setting("PUBLIC_PORT") if port is None else port)
