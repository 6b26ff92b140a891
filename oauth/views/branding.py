"""The tenant's logo, served from its own host (and from no other: the row is in its schema).

Served so that a browser can only ever treat it as the image it was checked to be: the
type stored at upload (from the bytes, never the uploader's claim), ``nosniff``, and a CSP
that forbids everything should it be opened as a document. ``ETag`` / ``Last-Modified``
let caches revalidate with a 304 (RFC 9110 §8.8, §13).
"""

from django.http import Http404, HttpResponse
from django.views.decorators.http import condition, require_safe

from oauth import selectors


def _etag(request) -> str | None:
    row = selectors.branding_logo(with_bytes=False)
    return row.logo_sha256 if row else None


def _last_modified(request):
    row = selectors.branding_logo(with_bytes=False)
    return row.updated_at if row else None


@require_safe
@condition(etag_func=_etag, last_modified_func=_last_modified)
def logo(request):
    row = selectors.branding_logo()
    if row is None:
        raise Http404("no logo")
    response = HttpResponse(bytes(row.logo), content_type=row.logo_content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "public, max-age=300"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
