"""The audit log: who did what, to which object, from where, and what changed.

One table in every schema: a tenant's events in its schema (admin writes and security
events), the operators' in public. Rows never hold a secret, token or password: ``changes``
is redacted by name before it is stored (``services.redact``).
"""
