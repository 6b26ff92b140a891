"""Tests: the real PostgreSQL and Redis, fast password hashing, no persistent connections."""

import os

os.environ.setdefault(
    "SECRET_KEY", "test-only-insecure-secret-key-0123456789-abcdefghijklmnopqrstu"
)
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gatehouse")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("GATEHOUSE_BASE_DOMAIN", "gatehouse.test")
os.environ.setdefault("GATEHOUSE_PUBLIC_SCHEME", "https")
os.environ.setdefault(
    "GATEHOUSE_KEY_ENCRYPTION_KEY", "dGVzdC1vbmx5LWluc2VjdXJlLWtleS1lbmNyeXB0aW9u"
)
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")

from gatehouse.settings.base import *  # noqa: E402,F403
from gatehouse.settings.base import PASSWORD_HASHERS  # noqa: E402

DEBUG = False
# Argon2 stays first in production; tests hash hundreds of passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Static files are served from the apps in place; no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
