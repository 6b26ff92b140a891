from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from guide.oauth.server import MyIntrospectionEndpoint, server


@csrf_exempt
@require_http_methods(["POST"])  # we only allow POST for token endpoint
def issue_token(request):
    return server.create_token_response(request)


@csrf_exempt
@require_http_methods(["POST"])
def introspect_token(request):
    return server.create_endpoint_response(MyIntrospectionEndpoint.ENDPOINT_NAME, request)
