"""Template context every page gets."""

from django.db import DatabaseError
from django_tenants.utils import get_public_schema_name

from oauth import selectors


def branding(request) -> dict:
    """The current tenant's branding on tenant hosts (``branding``), for templates/base.html.

    Nothing on the public host. Error pages are rendered through this too, including the
    one for a database that cannot be reached, so a failing read means no branding.
    """
    tenant = getattr(request, "tenant", None)
    if tenant is None or tenant.schema_name == get_public_schema_name():
        return {}
    try:
        return {"branding": selectors.branding()}
    except DatabaseError:
        return {}
