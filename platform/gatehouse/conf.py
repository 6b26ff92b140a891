"""Gatehouse's settings namespace (``settings.GATEHOUSE``), read lazily with defaults."""

from django.conf import settings

DEFAULTS = {
    "TENANT_CACHE_SECONDS": 5,
    "PUBLIC_SCHEME": "https",
    "PUBLIC_PORT": 0,
}


def gatehouse_setting(name: str):
    return getattr(settings, "GATEHOUSE", {}).get(name, DEFAULTS.get(name))


def public_url(host: str, *, port: int | None = None) -> str:
    """The external URL of ``host`` outside a request (CLI output, the run command)."""
    scheme = gatehouse_setting("PUBLIC_SCHEME")
    port = gatehouse_setting("PUBLIC_PORT") if port is None else port
    default_port = {"http": 80, "https": 443}.get(scheme)
    suffix = f":{port}" if port and port != default_port else ""
    return f"{scheme}://{host}{suffix}"
