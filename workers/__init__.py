"""Background work: ``celery -A workers worker`` and ``celery -A workers beat``."""

from gatehouse.celery import app

__all__ = ["app"]
