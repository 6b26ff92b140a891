"""django-oauth-toolkit as its docs set it up: client_credentials, authorization_code with
PKCE, rotating refresh tokens, RFC 7662 introspection.

``BENCH_DOT_HASHER=sha256`` is the second configuration: client secrets hashed with one
salted SHA-256 (``dotpeer.hashers.SHA256Hasher``) instead of Django's default PBKDF2
(1,000,000+ iterations), which django-oauth-toolkit uses for ``hash_client_secret``.
"""

import os

from peer_settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "oauth2_provider", "dotpeer"]  # noqa: F405
ROOT_URLCONF = "dotpeer.urls"
WSGI_APPLICATION = "dotpeer.wsgi.application"

if os.environ.get("BENCH_DOT_HASHER") == "sha256":
    PASSWORD_HASHERS = [
        "dotpeer.hashers.SHA256Hasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]

OAUTH2_PROVIDER = {
    "SCOPES": {"api": "API", "read": "Read", "introspection": "Introspect tokens"},
    "PKCE_REQUIRED": True,
    "ROTATE_REFRESH_TOKEN": True,
    # The pre-created codes of the bench must outlive a run (default 60 s).
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 3600,
}
