"""The kernel: what every Gatehouse app stands on. It imports only Django and the standard
library (held by the import-linter contract in pyproject.toml): settings access with every
default declared once (``conf``), the environment (``env``), the operator-command base
(``cli``), domain error types (``errors``), credentials and digests (``credentials``), a TTL
cache (``ttlcache``), a rate limiter (``ratelimit``), HTTP helpers (``http``), error pages
(``views``) and the user model (``accounts``)."""
