"""A client's public keys (RFC 7591 §2 ``jwks`` / ``jwks_uri``) and the verification of JWTs
it signs: client assertions (RFC 7523 §3), request objects (RFC 9101 §6.2), and any other
signature a feature checks against the client's registered keys.

- ``jwks`` is a JWK Set stored on the client; ``jwks_uri`` is fetched with the SSRF-safe
  fetcher (``oauth.fetch``: https only, no private addresses, bounded size and time, cached in
  Redis per ``Cache-Control`` under the tenant's schema).
- A JWT whose ``kid`` the cached set lacks refetches the set once (the client rotated its
  keys, OIDC Core §10.1.1), at most once per ``REFRESH_INTERVAL_SECONDS`` per client, so an
  attacker sending random ``kid`` values cannot turn us into a fetch amplifier.
- Only public keys are accepted in a set (``check_public_jwks``): a set with private members
  is refused at registration rather than stored.

joserfc does the JOSE work (key import, JWS verification, alg allow-lists); this module only
chooses the key set and the algs.
"""

from __future__ import annotations

from collections.abc import Collection

from django.core.cache import cache
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from oauth import fetch
from oauth.models import Client

#: ``oauth.fetch`` cache purpose for client key sets.
FETCH_PURPOSE = "jwks"
#: A client's ``jwks_uri`` is refetched for an unknown ``kid`` at most this often.
REFRESH_INTERVAL_SECONDS = 60
#: JWK members that only private (or symmetric) keys carry (RFC 7518 §6.2.2, §6.3.2, §6.4,
#: RFC 8037 §2).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class ClientKeysError(Exception):
    """The client's keys could not be had, or the JWT does not verify with them. The message
    says why, in words fit for an ``error_description``."""


def check_public_jwks(value) -> KeySet:
    """``value`` as a JWK Set of public keys (RFC 7517 §5), or ``ClientKeysError``: not an
    object with a non-empty ``keys`` array, a key joserfc cannot import, a private or
    symmetric key, or two keys with the same ``kid``."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) or not value["keys"]:
        raise ClientKeysError('jwks must be a JWK Set: an object with a non-empty "keys" array.')
    kids: set[str] = set()
    for key in value["keys"]:
        if not isinstance(key, dict):
            raise ClientKeysError("Every member of jwks.keys must be a JWK object.")
        if _PRIVATE_MEMBERS & key.keys():
            raise ClientKeysError("jwks must hold public keys only: a private key was sent.")
        kid = key.get("kid")
        if kid is not None and kid in kids:
            raise ClientKeysError(f"Two keys in jwks have the kid {kid!r}.")
        if kid is not None:
            kids.add(kid)
    try:
        return KeySet.import_key_set(value)
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise ClientKeysError(f"jwks holds a key that cannot be read: {error}.") from None


def has_keys(client: Client) -> bool:
    return bool(client.jwks or client.jwks_uri)


def client_key_set(client: Client, *, refresh: bool = False) -> KeySet:
    """The client's public keys: its ``jwks``, or its ``jwks_uri``'s document (cached;
    ``refresh`` drops the cached copy first)."""
    if client.jwks:
        return check_public_jwks(client.jwks)
    if not client.jwks_uri:
        raise ClientKeysError("The client has registered no keys (jwks or jwks_uri).")
    if refresh:
        fetch.forget(client.jwks_uri, purpose=FETCH_PURPOSE)
    try:
        fetched = fetch.fetch_json(client.jwks_uri, purpose=FETCH_PURPOSE)
    except fetch.FetchError as error:
        raise ClientKeysError(f"The client's jwks_uri could not be fetched: {error}") from None
    return check_public_jwks(fetched.document)


def _may_refresh(client: Client) -> bool:
    """True at most once per ``REFRESH_INTERVAL_SECONDS`` per client (an atomic ``add``; the
    cache key carries the tenant's schema)."""
    return cache.add(f"oauth:jwks-refresh:{client.pk}", 1, timeout=REFRESH_INTERVAL_SECONDS)


def _header(value: str) -> dict:
    try:
        return jws.extract_compact(value.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError) as error:
        raise ClientKeysError(f"Not a signed JWT in compact form: {error}.") from None


def verify_client_jwt(client: Client, value: str, *, algorithms: Collection[str]) -> jwt.Token:
    """``value``, a compact JWS signed by ``client``, verified with one of ``algorithms``
    against the client's public keys. Claims are NOT validated here: each caller checks its
    own (``iss``, ``aud``, ``exp``, ``jti``...) with joserfc's ``JWTClaimsRegistry``.

    An unknown ``kid`` refetches a ``jwks_uri`` set once (``_may_refresh``); without a
    ``kid``, each key of the set is tried (RFC 7515 §4.1.4 makes ``kid`` optional)."""
    header = _header(value)
    alg = header.get("alg")
    if alg not in algorithms:
        allowed = ", ".join(algorithms)
        raise ClientKeysError(f"The JWT is signed with {alg!r}; allowed here: {allowed}.")
    keys = client_key_set(client)
    kid = header.get("kid")
    if kid is not None and not any(key.kid == kid for key in keys.keys):
        if not (client.jwks_uri and not client.jwks and _may_refresh(client)):
            raise ClientKeysError(f"No key of the client has the kid {kid!r}.")
        keys = client_key_set(client, refresh=True)
    candidates = [key for key in keys.keys if kid is None or key.kid == kid]
    for key in candidates:
        try:
            return jwt.decode(value, key, algorithms=[alg])
        except (JoseError, ValueError):
            continue
    raise ClientKeysError("The JWT's signature does not verify with the client's keys.")
