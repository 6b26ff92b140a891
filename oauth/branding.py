"""What a tenant's logo may be: a small PNG, JPEG or WebP, recognised by its first bytes.

The file name and the browser's ``Content-Type`` are the uploader's claims and are ignored.
SVG is never accepted: it is a document that can carry script, and a logo served from the
tenant's own host would run it with that host's origin.
"""

from __future__ import annotations

#: Largest logo accepted, in bytes.
LOGO_MAX_BYTES = 256 * 1024

#: (leading bytes, media type); WebP is RIFF....WEBP (RFC 9649 §2).
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def logo_content_type(data: bytes) -> str | None:
    """The media type ``data`` really is, or None when it is none of PNG, JPEG, WebP."""
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
