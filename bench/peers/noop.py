"""The ceiling: a view that does nothing, answered through the project's full middleware."""

from django.http import HttpResponse


def noop(request):
    return HttpResponse(b"ok", content_type="text/plain")
