"""Fan-out from the public schema: one task message per tenant schema.

tenant-schemas-celery stamps each message with the sending connection's schema
(``_schema_name`` header, see ``tenant_schemas_celery.task.headers_with_schema``) and the
worker switches to it before the task runs, so sending inside ``schema_context`` is what makes
a task run in that tenant. Beat itself runs in public and never does tenant work.
"""

from __future__ import annotations

from collections.abc import Iterable

from django_tenants.utils import get_public_schema_name, schema_context

from tenants.selectors import active_tenants


def active_tenant_schemas(*, include_public: bool = False) -> list[str]:
    schemas = list(active_tenants().values_list("schema_name", flat=True))
    return schemas + [get_public_schema_name()] if include_public else schemas


def send_to_each_schema(task, schemas: Iterable[str]) -> int:
    """Queue ``task`` once per schema; returns how many were sent."""
    sent = 0
    for schema in schemas:
        with schema_context(schema):
            task.apply_async()
        sent += 1
    return sent
