"""Django's SessionMiddleware, with a database outage during the session save answered as an
outage (503 with ``Retry-After``) rather than as an interrupted session (400)."""

from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.db import InterfaceError, OperationalError


def _connection_error(exc: BaseException) -> BaseException | None:
    """The database connection error behind ``exc``, if there is one in its chain."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OperationalError | InterfaceError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's database session store turns *every* ``DatabaseError`` of an update into
    ``UpdateError``, which the middleware reports as ``SessionInterrupted``, a 400 saying the
    session was deleted by a concurrent request. That is true when the UPDATE touched no row
    (a plain ``DatabaseError``: still a 400). When the database could not be reached
    (``OperationalError``, ``InterfaceError``), the connection error is raised again so that
    ``kernel.views.server_error`` answers 503 with ``Retry-After`` like every other outage."""

    def process_response(self, request, response):
        try:
            return super().process_response(request, response)
        except SessionInterrupted as exc:
            cause = _connection_error(exc)
            if cause is None:
                raise
            raise cause from exc
