"""``/openapi.json``: the tenant's API description (oauth.openapi), a public document."""

from django.views.decorators.csrf import csrf_exempt

from oauth import selectors
from oauth.openapi import openapi_document
from oauth.responses import public_document


def _document(request) -> dict:
    return openapi_document(issuer=selectors.issuer_for_request(request))


@csrf_exempt
def openapi(request):
    """GET and HEAD, any origin, cacheable like the metadata (RFC 8414 §3)."""
    return public_document(request, _document)
