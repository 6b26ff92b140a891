"""Account-page tests: every test starts with no self-service mail throttle counts (every
test client comes from 127.0.0.1, and the Redis counters outlive a test)."""

import pytest

from tests.support.accounts import clear_account_mail_counters


@pytest.fixture(autouse=True)
def _fresh_account_mail_counters():
    clear_account_mail_counters()
    yield
    clear_account_mail_counters()
