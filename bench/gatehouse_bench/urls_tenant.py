"""The product's tenant URLs and ``/bench/noop``: a view that does nothing, reached through
the full middleware stack (tenant routing by Host included)."""

from django.http import HttpResponse
from django.urls import path

from gatehouse.urls_tenant import handler400, handler403, handler404, handler500, urlpatterns


def noop(request):
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/noop", noop), *urlpatterns]

__all__ = ["urlpatterns", "handler400", "handler403", "handler404", "handler500"]
