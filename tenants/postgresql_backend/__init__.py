"""django-tenants' PostgreSQL backend, safe behind a transaction-mode pooler when asked to be.

``ENGINE = "tenants.postgresql_backend"``; ``DATABASES[...]["POOL_MODE"]`` (from the
``DATABASE_POOL_MODE`` variable) chooses ``session`` (django-tenants as shipped) or
``transaction`` (every transaction sets its own ``search_path``). See ``base.py``.
"""
