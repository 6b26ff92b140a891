"""Host -> tenant routing on top of django-tenants' TenantMainMiddleware.

The base domain is the public site (no lookup). Any other host is looked up in the cached
Domain table: unknown hosts get a 404 page, suspended tenants a 403 (JSON on API paths),
and nothing here can produce a 500 for a bad Host.
"""

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django_tenants.middleware.main import TenantMainMiddleware

from kernel import views
from tenants.selectors import tenant_for_host


class TenantRoutingMiddleware(TenantMainMiddleware):
    @staticmethod
    def hostname_from_request(request):
        # No www-stripping: "www.<base>" is not the public site unless an operator says so.
        return request.get_host().rsplit(":", 1)[0].lower().rstrip(".")

    def process_request(self, request):
        connection.set_schema_to_public()
        try:
            hostname = self.hostname_from_request(request)
        except DisallowedHost:
            return views.page_not_found(request)

        if hostname == settings.GATEHOUSE_BASE_DOMAIN:
            request.tenant = connection.tenant
            self.setup_url_routing(request, force_public=True)
            return None

        tenant = tenant_for_host(hostname)
        if tenant is None:
            return views.page_not_found(request)
        if not tenant.is_active:
            return views.error_response(
                request,
                403,
                "Tenant suspended",
                "This organisation's sign-in service is suspended. Contact its administrator.",
                error="tenant_suspended",
            )
        # tenant.domain_url is the stored name of the Domain row that matched (the issuer's
        # host, oauth.selectors.issuer_for_request), set by tenant_for_host: never the Host.
        request.tenant = tenant
        connection.set_tenant(tenant)
        self.setup_url_routing(request)
        return None
