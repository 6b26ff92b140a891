"""Fixtures of the live back-channel tests: a CA the clients' https receivers are signed by
(the worker is told to trust it), and one receiver per module."""

from __future__ import annotations

import pytest
import trustme

from tests.oauth.backchannel.receiver import LogoutReceiver


@pytest.fixture(scope="module")
def rp_ca(tmp_path_factory):
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("rp-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, str(path)


@pytest.fixture(scope="module")
def receiver(rp_ca):
    started = LogoutReceiver(rp_ca[0]).start()
    yield started
    started.stop()
