"""OAuth test fixtures: a clean issuer-policy cache around every test."""

import pytest


@pytest.fixture(autouse=True)
def _fresh_issuer_policy():
    """Tests roll their IssuerSettings changes back; the process cache must forget them."""
    from oauth.selectors import clear_issuer_policy_cache

    clear_issuer_policy_cache()
    yield
    clear_issuer_policy_cache()
