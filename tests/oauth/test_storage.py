"""Nothing secret is stored in plaintext: read every OAuth row as the database has it."""

import pytest
from django.db import connection

from tests.support.factories import (
    client_credentials_token,
    make_client,
    make_user,
    make_web_client,
    pkce_pair,
    refresh,
    remember_tokens,
    signed_in,
    user_tokens,
)

pytestmark = pytest.mark.django_db

TABLES = ["oauth_client", "oauth_token", "oauth_authorizationcode", "oauth_grantfamily"]


def all_row_text(tenant) -> str:
    with tenant.context(), connection.cursor() as cursor:
        chunks = []
        for table in TABLES:
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_no_secret_token_or_code_is_stored_in_plaintext(tenant_a):
    from kernel import credentials as digests
    from tests.support.factories import get_code

    cc = make_client(tenant_a)
    cc_token = client_credentials_token(tenant_a, cc)["access_token"]
    web = make_web_client(tenant_a)
    first = user_tokens(tenant_a, web)
    second = remember_tokens(refresh(tenant_a, web, first["refresh_token"]).json())
    verifier, challenge = pkce_pair()
    code = get_code(tenant_a, signed_in(tenant_a, make_user(tenant_a)), web, challenge)

    values = [
        cc.secret,
        web.secret,
        cc_token,
        first["access_token"],
        first["refresh_token"],
        second["access_token"],
        second["refresh_token"],
        code,
        verifier,
    ]
    text = all_row_text(tenant_a)
    for value in values:
        assert value not in text
    # ... but their digests are, and that is how they are found.
    for value in (cc.secret, cc_token, second["refresh_token"], code):
        assert digests.digest(value) in text


def test_every_token_row_has_a_purge_after_past_its_last_expiry(tenant_a):
    from oauth.models import GrantFamily, Token

    web = make_web_client(tenant_a)
    user_tokens(tenant_a, web)
    client_credentials_token(tenant_a, make_client(tenant_a))
    with tenant_a.context():
        for row in Token.objects.all():
            last = max(e for e in (row.access_expires_at, row.refresh_expires_at) if e)
            assert row.purge_after > last
        for family in GrantFamily.objects.all():
            assert family.purge_after >= max(t.purge_after for t in family.tokens.all())


def test_secrets_and_tokens_are_256_bit_random():
    from kernel import credentials as digests

    values = {digests.new_secret() for _ in range(100)}
    assert len(values) == 100
    assert all(len(v) == 43 for v in values)
    assert len(digests.digest("x")) == 64
