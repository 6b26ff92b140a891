"""The OAuth API endpoints skip the browser's middleware.

Token (RFC 6749 §3.2), introspection (RFC 7662) and revocation (RFC 7009) take a form and
answer JSON: no cookie, no session, no signed-in user, no CSRF token (they are
``csrf_exempt``), no messages and nothing to frame. Yet every request to them paid for
Django's session, common, CSRF, authentication, messages and clickjacking middleware, about
a quarter of the token endpoint's CPU on the benchmark. Placed right after the tenant routing
middleware, ``OAuthEndpointsFastPath`` answers exactly those paths on a tenant host by calling
their view itself, with the audit actor set as ``AuditActorMiddleware`` sets it (anonymous,
from the client's address; these endpoints never see a signed-in user). Everything before it
(probes, metrics, security headers and the https redirect, static files, tenant routing and
suspension) still runs, and ``request.resolver_match`` is set as URL resolution sets it, so
metrics label these requests as before. Any other path goes down the full stack.
"""

from __future__ import annotations

from django.db import connection
from django.urls import resolve, reverse
from django_tenants.utils import get_public_schema_name

from kernel.audit.context import acting_as, actor_for_request

#: The routes (names in the tenant URL conf) answered without the browser's middleware.
FAST_ROUTES = ("oauth-token", "oauth-introspect", "oauth-revoke")


class OAuthEndpointsFastPath:
    def __init__(self, get_response):
        self.get_response = get_response
        self._matches: dict | None = None

    def _routes(self) -> dict:
        """Path -> its ``ResolverMatch`` (immutable, shared by every request to it)."""
        if self._matches is None:
            paths = [reverse(name) for name in FAST_ROUTES]
            self._matches = {path: resolve(path) for path in paths}
        return self._matches

    def __call__(self, request):
        match = None
        if connection.schema_name != get_public_schema_name():
            match = self._routes().get(request.path_info)
        if match is None:
            return self.get_response(request)
        request.resolver_match = match
        with acting_as(actor_for_request(request)):
            return match.func(request, *match.args, **match.kwargs)
