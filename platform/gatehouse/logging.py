"""Log records carry the tenant whose schema the connection is on."""

import logging

from django.db import connection


class TenantFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "tenant"):
            record.tenant = getattr(connection, "schema_name", None) or "-"
        return True
