"""A single-tenant Authlib server as Authlib's Django guide writes it."""

from peer_settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "guide.oauth"]  # noqa: F405
ROOT_URLCONF = "guide.urls"
WSGI_APPLICATION = "guide.wsgi.application"
AUTHLIB_OAUTH2_PROVIDER = {"refresh_token_generator": True}
