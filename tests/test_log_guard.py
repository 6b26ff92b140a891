"""The log guard used by every test: it must notice a leaked secret."""

import logging

import pytest

from tests.support import secrets


@pytest.mark.leaks_secrets_on_purpose
def test_guard_notices_a_secret_in_a_log_record(no_secrets_in_logs):
    token = secrets.remember_secret("s3cr3t-token-value-abcdef")
    logging.getLogger("gatehouse.test").warning("issued %s", token)
    assert secrets.leaks_in("\n".join(no_secrets_in_logs.texts)) == [token]


@pytest.mark.leaks_secrets_on_purpose
def test_guard_notices_a_secret_in_extra_fields(no_secrets_in_logs):
    token = secrets.remember_secret("another-secret-value-123456")
    logging.getLogger("gatehouse.test").info("request", extra={"body": {"client_secret": token}})
    assert secrets.leaks_in("\n".join(no_secrets_in_logs.texts)) == [token]


def test_guard_ignores_values_it_was_not_given(no_secrets_in_logs):
    logging.getLogger("gatehouse.test").info("nothing secret here")
    assert secrets.leaks_in("\n".join(no_secrets_in_logs.texts)) == []
