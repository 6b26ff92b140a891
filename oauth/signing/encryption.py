"""Signing keys' private parts encrypted at rest (MultiFernet). Not JOSE: ``cryptography``.

The PKCS#8 PEM of each private key is stored as a ``MultiFernet`` token. The Fernet keys
come from ``settings.GATEHOUSE["KEY_ENCRYPTION_KEYS"]`` (GATEHOUSE_KEY_ENCRYPTION_KEY, a
comma-separated list, newest first). Each configured value is a secret string of at least
32 characters (``Fernet.generate_key()`` output is fine); the Fernet key actually used is
derived from it deterministically::

    urlsafe_b64encode(sha256(b"gatehouse-key-encryption-v1:" + value.encode()).digest())

so operators need not produce exact Fernet encodings, and the same value yields the same key
in every process. A shorter value is refused with ``ImproperlyConfigured`` (and by the
``oauth.E001`` system check, ``oauth.checks``) in every environment, production included.
The first value encrypts; all of them decrypt. To rotate the encryption key, prepend a new
value, deploy, run ``rotate_signing_keys --reencrypt`` (``services.reencrypt_private_keys``
per tenant), then drop the old value.

This module reads settings only and imports nothing of the app registry, so the system
check can use it before models are ready.
"""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MIN_KEY_ENCRYPTION_KEY_LENGTH = 32
_KEY_DERIVATION_LABEL = b"gatehouse-key-encryption-v1:"


class KeyDecryptionError(ImproperlyConfigured):
    """A stored private key that no configured GATEHOUSE_KEY_ENCRYPTION_KEY entry decrypts."""


def key_encryption_errors(values: list[str] | None = None) -> list[str]:
    """Why the configured GATEHOUSE_KEY_ENCRYPTION_KEY values are unusable (empty if fine).

    The messages never contain the values themselves.
    """
    if values is None:
        values = settings.GATEHOUSE.get("KEY_ENCRYPTION_KEYS") or []
    if not values:
        return ["GATEHOUSE_KEY_ENCRYPTION_KEY is not set: signing keys cannot be encrypted"]
    return [
        f"GATEHOUSE_KEY_ENCRYPTION_KEY entry {position} of {len(values)} has {len(value)} "
        f"characters; each entry needs at least {MIN_KEY_ENCRYPTION_KEY_LENGTH} random "
        "characters (for example the output of "
        '`python -c "from cryptography.fernet import Fernet; '
        'print(Fernet.generate_key().decode())"`)'
        for position, value in enumerate(values, 1)
        if len(value) < MIN_KEY_ENCRYPTION_KEY_LENGTH
    ]


def derive_fernet_key(value: str) -> bytes:
    """The Fernet key used for one configured GATEHOUSE_KEY_ENCRYPTION_KEY value."""
    digest = hashlib.sha256(_KEY_DERIVATION_LABEL + value.encode()).digest()
    return base64.urlsafe_b64encode(digest)


@functools.lru_cache(maxsize=8)
def _multi_fernet_for(values: tuple[str, ...]) -> MultiFernet:
    errors = key_encryption_errors(list(values))
    if errors:
        raise ImproperlyConfigured("; ".join(errors))
    return MultiFernet([Fernet(derive_fernet_key(value)) for value in values])


def key_encryption() -> MultiFernet:
    """MultiFernet over the configured keys: the first encrypts, every one decrypts."""
    return _multi_fernet_for(tuple(settings.GATEHOUSE.get("KEY_ENCRYPTION_KEYS") or ()))


def encrypt_private_key(pem: bytes) -> str:
    return key_encryption().encrypt(pem).decode("ascii")


def decrypt_private_key(token: str) -> bytes:
    try:
        return key_encryption().decrypt(token.encode("ascii"))
    except InvalidToken:
        raise KeyDecryptionError(
            "a signing key cannot be decrypted with any GATEHOUSE_KEY_ENCRYPTION_KEY entry: "
            "restore the key it was encrypted with (keep old entries after new ones)"
        ) from None


def reencrypt_private_key(token: str) -> str:
    """``token`` re-encrypted with the first (newest) configured key (``MultiFernet.rotate``).

    Raises ``KeyDecryptionError`` when no configured key decrypts it.
    """
    try:
        return key_encryption().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise KeyDecryptionError(
            "a signing key cannot be decrypted with any GATEHOUSE_KEY_ENCRYPTION_KEY entry"
        ) from None
