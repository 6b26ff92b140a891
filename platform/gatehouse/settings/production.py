"""Production: every secret from the environment, https only, `check --deploy` clean.

Required: DATABASE_URL, REDIS_URL, SECRET_KEY, GATEHOUSE_BASE_DOMAIN,
GATEHOUSE_KEY_ENCRYPTION_KEY. TLS terminates at the ingress, which sets X-Forwarded-Proto.
"""

from gatehouse.settings.base import *  # noqa: F403
from kernel import env

if not GATEHOUSE["KEY_ENCRYPTION_KEYS"]:  # noqa: F405
    raise env.ConfigError("GATEHOUSE_KEY_ENCRYPTION_KEY", "is required but not set")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31536000, minimum=0)
# Every tenant host is a subdomain of the base domain and is served over https only.
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# __Host- cookies are refused by browsers unless Secure, Path=/ and without Domain:
# the browser itself then guarantees they never travel to another tenant's host.
SESSION_COOKIE_NAME = "__Host-gh_session"
CSRF_COOKIE_NAME = "__Host-gh_csrf"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
