"""Reads of this tenant's signing keys: JWKS, the current signing key, the verifying keys.

Every function works on the schema the connection is on (``connection.tenant``): in a
request that is the Host's tenant; elsewhere wrap calls in ``schema_context``. Nothing is
cached per tenant: every call reads the keys from the schema (only parsed key objects are
memoised, by ``keys``).

What is published (RFC 7517 §5, OIDC Core §10.1.1)
    JWKS serves next, current and unexpired retiring keys, current keys first for clients
    that take the first key; relying parties may cache it for ``jwks_max_age`` seconds.
    Signatures are honoured for current and unexpired retiring keys only: a next key has
    signed nothing yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from joserfc.jwk import KeySet, KeySetSerialization

from oauth.models import Client, IssuerSettings, SigningKey
from oauth.signing.constants import DEFAULT_ALG, ID_TOKEN_LIFETIME, SUPPORTED_ALGS
from oauth.signing.keys import public_key

PUBLISHED_STATES = (SigningKey.State.NEXT, SigningKey.State.CURRENT, SigningKey.State.RETIRING)
_JWKS_ORDER = {SigningKey.State.CURRENT: 0, SigningKey.State.NEXT: 1, SigningKey.State.RETIRING: 2}


class SigningKeyUnavailable(LookupError):
    """The tenant has no current key for the requested alg."""


def published_keys(now: datetime) -> QuerySet[SigningKey]:
    """Next, current and retiring keys whose ``retire_after`` is still ahead of ``now``."""
    return SigningKey.objects.filter(
        Q(state__in=(SigningKey.State.NEXT, SigningKey.State.CURRENT))
        | Q(state=SigningKey.State.RETIRING, retire_after__gt=now)
    )


def _key_set(keys) -> KeySetSerialization:
    ordered = sorted(keys, key=lambda k: (_JWKS_ORDER[k.state], SUPPORTED_ALGS.index(k.alg), k.pk))
    return KeySet([public_key(key.public_jwk) for key in ordered]).as_dict(private=False)


def jwks_document(now: datetime | None = None) -> KeySetSerialization:
    """This tenant's JWK Set (RFC 7517 §5): current, next and unexpired retiring keys.

    Public members only (never d, p, q, dp, dq, qi: joserfc's public export), each with
    ``kid``, ``use: sig`` and ``alg``; current keys first, for clients that take the first
    key.
    """
    return _key_set(published_keys(now or timezone.now()))


def jwks_max_age() -> int:
    """Seconds relying parties may cache JWKS; rotation waits this long after publishing."""
    return IssuerSettings.load().jwks_max_age


def verification_keys(now: datetime | None = None) -> KeySetSerialization:
    """JWK Set of the keys whose signatures this tenant still honours: current and retiring.

    Next keys have signed nothing, so they are left out. ``jws.verify_jwt`` checks
    signatures against exactly this set; the dict is what ``joserfc.jwk.KeySet`` and
    jwcrypto's ``JWKSet`` import.
    """
    now = now or timezone.now()
    return _key_set(published_keys(now).exclude(state=SigningKey.State.NEXT))


def current_signing_key(alg: str = DEFAULT_ALG) -> SigningKey:
    """The key that signs new JWTs of ``alg`` in this tenant."""
    if alg not in SUPPORTED_ALGS:
        raise ValueError(f"unsupported signing alg {alg!r}; use one of {', '.join(SUPPORTED_ALGS)}")
    key = SigningKey.objects.filter(state=SigningKey.State.CURRENT, alg=alg).first()
    if key is None:
        raise SigningKeyUnavailable(
            f"tenant schema {connection.schema_name!r} has no current {alg} signing key; "
            "run `manage.py rotate_signing_keys --tenant <slug>` to create one"
        )
    return key


def max_signed_token_lifetime(issuer: IssuerSettings | None = None) -> int:
    """Seconds the longest-lived JWT this tenant signs may live.

    The larger of the tenant's access token lifetime, any client's override of it and
    ``ID_TOKEN_LIFETIME``. A retiring key stays published this long (plus leeway), and
    ``jws.sign_jwt`` refuses an ``exp`` beyond it.
    """
    issuer = issuer or IssuerSettings.load()
    client_max = Client.objects.aggregate(longest=Max("access_token_lifetime"))["longest"]
    return max(issuer.access_token_lifetime, client_max or 0, ID_TOKEN_LIFETIME)


def rotation_safe_at(
    issuer: IssuerSettings, next_key: SigningKey, now: datetime
) -> datetime | None:
    """When promoting ``next_key`` to current becomes safe; None when it is at ``now``.

    OIDC Core §10.1.1: safe once every JWKS a relying party may hold lists the key. That is
    at once when the key was made before this tenant's JWKS was first served
    (``jwks_first_served_at``; never served counts too), since every JWKS ever served then
    held it; otherwise once it has been published for ``jwks_max_age`` seconds, when every
    copy cached before it was published has expired. ``created_at`` is stamped while the
    key's writer holds the tenant's key lock, which the first JWKS request takes too.
    """
    first_served = issuer.jwks_first_served_at
    if first_served is None or next_key.created_at <= first_served:
        return None
    safe_at = (next_key.published_at or next_key.created_at) + timedelta(
        seconds=issuer.jwks_max_age
    )
    return safe_at if safe_at > now else None


def rotation_readiness(now: datetime | None = None) -> datetime | None:
    """When rotating this tenant's keys is safe for every alg; None when it is now."""
    now = now or timezone.now()
    issuer = IssuerSettings.load()
    waits = [
        safe_at
        for key in SigningKey.objects.filter(state=SigningKey.State.NEXT)
        if (safe_at := rotation_safe_at(issuer, key, now)) is not None
    ]
    return max(waits, default=None)
