"""The ``client_id`` path converter of console URLs.

A generated client_id is URL-safe as it is; a Client ID Metadata Document client's is an https
URL, whose slashes would run into the path's own. Such a client_id travels as ``~`` and its
unpadded base64url, so every client has one console URL and the routes stay unambiguous.
"""

from __future__ import annotations

import base64
import binascii
import re

_PLAIN = re.compile(r"[-a-zA-Z0-9_]+")


class ClientIdConverter:
    regex = r"~?[-a-zA-Z0-9_]+"

    def to_python(self, value: str) -> str:
        if not value.startswith("~"):
            return value
        encoded = value[1:]
        try:
            return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError(value) from None  # not a route: 404

    def to_url(self, value: str) -> str:
        if _PLAIN.fullmatch(value):
            return value
        return "~" + base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
