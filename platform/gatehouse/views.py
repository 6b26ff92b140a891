"""The two landing pages: the public site's and each tenant host's."""

from django.http import HttpResponse
from django.template.loader import render_to_string


def public_home(request):
    return HttpResponse(render_to_string("public_home.html", {}, request=request))


def tenant_home(request):
    return HttpResponse(
        render_to_string("tenant_home.html", {"tenant": request.tenant}, request=request)
    )
