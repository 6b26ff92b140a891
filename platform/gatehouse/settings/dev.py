"""Development: everything on one machine, plain http (issuer http://acme.localhost:8000)."""

import os
from pathlib import Path

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault(
    "SECRET_KEY", "dev-only-insecure-secret-key-0123456789-abcdefghijklmnopqrstuv"
)
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gatehouse")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("GATEHOUSE_BASE_DOMAIN", "localhost")
os.environ.setdefault("GATEHOUSE_PUBLIC_SCHEME", "http")
os.environ.setdefault("GATEHOUSE_PUBLIC_PORT", "8000")
os.environ.setdefault(
    "GATEHOUSE_KEY_ENCRYPTION_KEY", "ZGV2LW9ubHktaW5zZWN1cmUta2V5LWVuY3J5cHRpb24="
)
# Mail is written to files in .run/mail (make run prints the folder), never sent.
os.environ.setdefault(
    "EMAIL_URL", "file://" + str(Path(__file__).resolve().parents[3] / ".run" / "mail")
)
# Lets the OAuth endpoints run over plain http. Development and tests only.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

from gatehouse.settings.base import *  # noqa: E402,F403

# Static files are served from the apps in place; no collectstatic needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
