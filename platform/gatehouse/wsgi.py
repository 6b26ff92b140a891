"""WSGI entry point: ``gunicorn gatehouse.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings.dev")

application = get_wsgi_application()
