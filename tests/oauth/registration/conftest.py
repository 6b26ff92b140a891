"""Fixtures of the registration tests: the https document server and the fetcher's
development allowance for loopback."""

from __future__ import annotations

import pytest

from tests.oauth.registration.docserver import DocumentServer


@pytest.fixture(scope="session")
def docserver(tmp_path_factory):
    from django.conf import settings

    server = DocumentServer(
        f"clients.{settings.GATEHOUSE_BASE_DOMAIN}",
        str(tmp_path_factory.mktemp("ca") / "ca.pem"),
    )
    yield server
    server.stop()


@pytest.fixture
def fetch_settings(settings, docserver):
    """Set ``GATEHOUSE["DOCUMENT_FETCH"]`` options; loopback allowed and the test CA trusted
    unless the test says otherwise."""

    def _set(**options):
        current = dict(settings.GATEHOUSE.get("DOCUMENT_FETCH", {}))
        current.update({"ALLOW_LOOPBACK": True, "CA_BUNDLE": docserver.ca_path, **options})
        settings.GATEHOUSE = {**settings.GATEHOUSE, "DOCUMENT_FETCH": current}

    _set()
    return _set
