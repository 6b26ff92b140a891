"""OpenID Connect endpoints; thin views over ``oauth.signing``."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from oauth import signing


# Exempt so that any other method gets its 405 rather than a CSRF 403; GET changes nothing.
@csrf_exempt
@require_http_methods(["GET", "HEAD"])
def jwks(request):
    """The tenant's JWK Set (RFC 7517 §5; OIDC Discovery §3 ``jwks_uri``).

    Publishes next, current and retiring public keys. ``max-age`` is the same
    ``jwks_max_age`` that rotation waits out before signing with a newly published key
    (OIDC Core §10.1.1). Public keys are meant for anyone, so any origin may read them.
    """
    response = JsonResponse(signing.jwks_document())
    response["Cache-Control"] = f"public, max-age={signing.jwks_max_age()}"
    response["Access-Control-Allow-Origin"] = "*"
    return response
