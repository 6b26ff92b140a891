"""What signing one JWT needs from the tenant's schema, read in one round trip.

``jws.sign_jwt`` needs the current key of its alg (RFC 7515 §4.1.4: its ``kid``; its private
key) and the longest lifetime a JWT of this tenant may have (the bound on ``exp`` that lets a
rotated-out key leave JWKS, OIDC Core §10.1.1): the tenant's access token lifetime, the
longest client override and ``ID_TOKEN_LIFETIME``. Read through the ORM that was three
queries per signed token (``current_signing_key``, ``IssuerSettings.load``, an aggregate
over the clients), about 1 ms of CPU on the JWT token path; here it is one statement,
built once from the models' metadata, naming the tenant's schema (``oauth.rowsql``: no
``SET search_path`` for it).

Nothing is cached across requests: a rotation, a lifetime change or a client's new override
made by any process is seen by the next token, exactly as the ORM reads saw it. Only the
parsed private key is memoised (``keys.load_private_key``, keyed by its ciphertext, so a
rotated key can never be served for the new one).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import connection

from oauth import rowsql
from oauth.models import Client, IssuerSettings, SigningKey
from oauth.signing import selectors
from oauth.signing.constants import ID_TOKEN_LIFETIME, SUPPORTED_ALGS


@dataclass(frozen=True)
class SigningContext:
    """The current key of ``alg`` and the tenant's lifetimes, as one statement read them."""

    key: SigningKey  # pk, kid, alg and private_key only: what signing and its note need
    #: The tenant's ``IssuerSettings.access_token_lifetime`` (read fresh).
    access_token_lifetime: int
    #: ``max_signed_token_lifetime()``: the latest ``exp`` a JWT may have, in seconds ahead.
    max_lifetime: int


@functools.cache
def _sql() -> str:
    qn = connection.ops.quote_name
    key, settings, client = SigningKey._meta, IssuerSettings._meta, Client._meta

    def col(meta, name: str) -> str:
        return qn(meta.get_field(name).column)

    lifetime = col(settings, "access_token_lifetime")
    return (
        f"SELECT k.{qn(key.pk.column)}, k.{col(key, 'kid')}, k.{col(key, 'private_key')}, "
        f"(SELECT s.{lifetime} FROM {rowsql.table(IssuerSettings)} s "
        f"ORDER BY s.{qn(settings.pk.column)} LIMIT 1), "
        f"(SELECT MAX(c.{col(client, 'access_token_lifetime')}) FROM {rowsql.table(Client)} c) "
        f"FROM {rowsql.table(SigningKey)} k "
        f"WHERE k.{col(key, 'state')} = %s AND k.{col(key, 'alg')} = %s "
        f"ORDER BY k.{qn(key.pk.column)} LIMIT 1"
    )


def signing_context(alg: str) -> SigningContext:
    """The current ``alg`` key and the lifetimes, in one statement; ``SigningKeyUnavailable``
    when the tenant has no current key of ``alg``, as ``current_signing_key`` raises it."""
    if alg not in SUPPORTED_ALGS:
        return _fallback(alg)  # current_signing_key raises the ValueError it always raised
    with rowsql.qualified_cursor() as cursor:
        cursor.execute(rowsql.in_schema(_sql()), [SigningKey.State.CURRENT, alg])
        row = cursor.fetchone()
    if row is None:
        return _fallback(alg)
    pk, kid, private_key, issuer_lifetime, client_max = row
    if issuer_lifetime is None:  # no IssuerSettings row yet: load() creates it
        issuer_lifetime = IssuerSettings.load().access_token_lifetime
    key = SigningKey(pk=pk, kid=kid, alg=alg, private_key=private_key)
    key._state.adding, key._state.db = False, connection.alias
    longest = max(issuer_lifetime, client_max or 0, ID_TOKEN_LIFETIME)
    return SigningContext(key=key, access_token_lifetime=issuer_lifetime, max_lifetime=longest)


def _fallback(alg: str) -> SigningContext:
    """The ORM readers, for what the statement did not find: they raise what they raise."""
    key = selectors.current_signing_key(alg)
    issuer = IssuerSettings.load()
    return SigningContext(
        key=key,
        access_token_lifetime=issuer.access_token_lifetime,
        max_lifetime=selectors.max_signed_token_lifetime(issuer),
    )
