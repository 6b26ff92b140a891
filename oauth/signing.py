"""Each tenant's JWS signing keys: made, stored encrypted, rotated, published, used to sign.

Every function works on the schema the connection is on (``connection.tenant``): in a
request that is the Host's tenant; elsewhere wrap calls in ``schema_context``. Nothing is
cached per tenant: every call reads the keys from the schema. Only parsed key objects are
memoised, keyed by their ciphertext or JWK, so a cached key can only ever be that key.

Keys (RFC 7517, RFC 7518 §3.3 and §3.4)
    Each tenant has an RSA 2048 key for RS256 and an EC P-256 key for ES256. The ``kid`` is
    the key's RFC 7638 JWK thumbprint (SHA-256, base64url), so it names the key material
    itself and two tenants can never publish the same ``kid`` for different keys.

Encryption at rest
    The PKCS#8 PEM of each private key is stored as a ``MultiFernet`` token. The Fernet keys
    come from ``settings.GATEHOUSE["KEY_ENCRYPTION_KEYS"]`` (GATEHOUSE_KEY_ENCRYPTION_KEY, a
    comma-separated list, newest first). Each configured value is a secret string of at
    least 32 characters (``Fernet.generate_key()`` output is fine); the Fernet key actually
    used is derived from it deterministically::

        urlsafe_b64encode(sha256(b"gatehouse-key-encryption-v1:" + value.encode()).digest())

    so operators need not produce exact Fernet encodings, and the same value yields the same
    key in every process. A shorter value is refused with ``ImproperlyConfigured`` (and by
    the ``oauth.E001`` system check) in every environment, production included. The
    first value encrypts; all of them decrypt. To rotate the encryption key, prepend a new
    value, deploy, run ``rotate_signing_keys --reencrypt`` (``reencrypt_private_keys`` per
    tenant), then drop the old value.

Rotation without a gap (OIDC Core §10.1.1)
    States move next -> current -> retiring -> retired. JWKS publishes next, current and
    retiring keys with ``Cache-Control: max-age=M`` (``IssuerSettings.jwks_max_age``).
    ``rotate`` promotes the next key only once it has been published for M seconds, so
    every relying party's cached JWKS already holds it; the old current key keeps being
    published (retiring) until ``retire_after`` = rotation time + ``max_signed_token_lifetime``
    + ``CLOCK_SKEW_LEEWAY``, when every token it signed has expired even for a verifier
    with a lenient clock. ``sign_jwt`` refuses an ``exp`` beyond that lifetime, so the bound
    holds by construction. Retired rows are kept for audit with the private key erased.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from oauth.models import Client, IssuerSettings, SigningKey, Token

logger = logging.getLogger(__name__)

#: Algorithms every tenant holds a key for, in the order JWKS lists them. RS256 is the
#: OIDC default for id_tokens (Registration §2, Discovery §3).
SUPPORTED_ALGS: tuple[str, ...] = ("RS256", "ES256")
DEFAULT_ALG = "RS256"
RSA_KEY_SIZE = 2048
#: Lifetime of id_tokens in seconds; the id_token code uses this (or a shorter one), and
#: ``max_signed_token_lifetime`` counts it.
ID_TOKEN_LIFETIME = 3600
#: Seconds a retiring key outlives its last token, for verifiers whose clocks run late or
#: who allow leeway on ``exp`` (RFC 7519 §4.1.4).
CLOCK_SKEW_LEEWAY = 300
MIN_KEY_ENCRYPTION_KEY_LENGTH = 32
_KEY_DERIVATION_LABEL = b"gatehouse-key-encryption-v1:"

_PUBLISHED_STATES = (SigningKey.State.NEXT, SigningKey.State.CURRENT, SigningKey.State.RETIRING)
_JWKS_ORDER = {SigningKey.State.CURRENT: 0, SigningKey.State.NEXT: 1, SigningKey.State.RETIRING: 2}
# RFC 7638 §3.2: the required members of each key type, the only ones a thumbprint hashes;
# with kid, use and alg they are also the only members JWKS ever serves.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}


class SigningKeyUnavailable(LookupError):
    """The tenant has no current key for the requested alg."""


class JWTVerificationError(ValueError):
    """A JWT that this tenant did not sign, or that is malformed, expired or not yet valid."""


# --- Encryption at rest ------------------------------------------------------------------


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
        raise ImproperlyConfigured(
            "a signing key cannot be decrypted with any GATEHOUSE_KEY_ENCRYPTION_KEY entry: "
            "restore the key it was encrypted with (keep old entries after new ones)"
        ) from None


@transaction.atomic
def reencrypt_private_keys() -> int:
    """Re-encrypt this tenant's private keys with the newest encryption key; returns a count.

    Run after prepending a new GATEHOUSE_KEY_ENCRYPTION_KEY entry; once every tenant is done
    the old entry can be removed.
    """
    fernet = key_encryption()
    count = 0
    for key in SigningKey.objects.select_for_update().exclude(private_key="").order_by("pk"):
        try:
            key.private_key = fernet.rotate(key.private_key.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise ImproperlyConfigured(
                f"signing key {key.kid} cannot be decrypted with any "
                "GATEHOUSE_KEY_ENCRYPTION_KEY entry; nothing was re-encrypted"
            ) from None
        key.save(update_fields=["private_key"])
        count += 1
    return count


# --- Key material (RFC 7517, 7518, 7638) -------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _uint(value: int, length: int | None = None) -> str:
    """RFC 7518 §2 Base64urlUInt (minimal length, or fixed for EC coordinates, §6.2.1.2)."""
    length = length or max(1, (value.bit_length() + 7) // 8)
    return _b64url(value.to_bytes(length, "big"))


def jwk_thumbprint(jwk: dict) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, without whitespace."""
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def generate_private_key(alg: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if alg == SigningKey.Alg.RS256:
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)
    if alg == SigningKey.Alg.ES256:
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported signing alg {alg!r}; use one of {', '.join(SUPPORTED_ALGS)}")


def public_jwk(private_key, alg: str) -> dict:
    """The public JWK (RFC 7517 §4) with ``kid`` (RFC 7638), ``use: sig`` and ``alg``."""
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        jwk = {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
    else:
        numbers = public.public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": _uint(numbers.x, 32), "y": _uint(numbers.y, 32)}
    jwk.update(kid=jwk_thumbprint(jwk), use="sig", alg=alg)
    return jwk


def _new_key(alg: str, state: str, now: datetime) -> SigningKey:
    private_key = generate_private_key(alg)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk = public_jwk(private_key, alg)
    return SigningKey.objects.create(
        kid=jwk["kid"],
        alg=alg,
        state=state,
        public_jwk=jwk,
        private_key=encrypt_private_key(pem),
        published_at=now,
        activated_at=now if state == SigningKey.State.CURRENT else None,
    )


@functools.lru_cache(maxsize=512)
def _load_private_key(kid: str, encrypted: str):
    # Fernet authenticates the ciphertext, so this PEM is exactly the one we generated:
    # OpenSSL's RSA consistency check (~70 ms) would prove nothing more.
    return serialization.load_pem_private_key(
        decrypt_private_key(encrypted), password=None, unsafe_skip_rsa_key_validation=True
    )


@functools.lru_cache(maxsize=1024)
def _load_public_key(kid: str, jwk_json: str):
    jwk = json.loads(jwk_json)
    if jwk["kty"] == "RSA":
        n = int.from_bytes(_b64url_decode(jwk["n"]), "big")
        e = int.from_bytes(_b64url_decode(jwk["e"]), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    x = int.from_bytes(_b64url_decode(jwk["x"]), "big")
    y = int.from_bytes(_b64url_decode(jwk["y"]), "big")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


# --- Writes: provisioning and rotation ----------------------------------------------------


@dataclass(frozen=True)
class RotationOutcome:
    """What ``rotate`` / ``rotate_if_due`` did in the current tenant schema."""

    rotated: bool
    reason: str = ""
    current: dict[str, str] = field(default_factory=dict)  # alg -> kid, after the call
    next: dict[str, str] = field(default_factory=dict)  # alg -> kid, after the call
    retiring: dict[str, str] = field(default_factory=dict)  # alg -> kid demoted by this call
    retire_after: datetime | None = None
    retired: list[str] = field(default_factory=list)  # kids that left JWKS in this call
    created: list[str] = field(default_factory=list)  # kids made in this call

    def as_dict(self) -> dict:
        return {
            "rotated": self.rotated,
            "reason": self.reason,
            "current": dict(self.current),
            "next": dict(self.next),
            "retiring": dict(self.retiring),
            "retire_after": self.retire_after.isoformat() if self.retire_after else None,
            "retired": list(self.retired),
            "created": list(self.created),
        }


def _lock_tenant_keys() -> tuple[IssuerSettings, dict[str, dict[str, SigningKey]]]:
    """Serialise key changes in this schema; return the issuer policy and the live keys.

    The tenant's one IssuerSettings row is the mutex (it exists even before any key does);
    the keys are then read, and locked, with a fresh snapshot, so a rotation that waited
    for another one sees that one's new next key.
    """
    issuer = IssuerSettings.load()
    issuer = IssuerSettings.objects.select_for_update().get(pk=issuer.pk)
    live: dict[str, dict[str, SigningKey]] = {alg: {} for alg in SUPPORTED_ALGS}
    keys = SigningKey.objects.select_for_update().filter(state__in=_PUBLISHED_STATES)
    for key in keys.order_by("pk"):
        if key.alg in live and key.state != SigningKey.State.RETIRING:
            live[key.alg][key.state] = key
    return issuer, live


def _retire_expired(now: datetime) -> list[str]:
    expired = list(
        SigningKey.objects.filter(state=SigningKey.State.RETIRING, retire_after__lte=now)
        .order_by("pk")
        .values_list("kid", flat=True)
    )
    if expired:
        SigningKey.objects.filter(kid__in=expired).update(
            state=SigningKey.State.RETIRED, retired_at=now, private_key=""
        )
        logger.info("signing keys retired (left JWKS): %s", ", ".join(expired))
    return expired


def _fill_missing(live: dict[str, dict[str, SigningKey]], now: datetime) -> list[str]:
    created = []
    for alg in SUPPORTED_ALGS:
        for state in (SigningKey.State.CURRENT, SigningKey.State.NEXT):
            if state not in live[alg]:
                live[alg][state] = _new_key(alg, state, now)
                created.append(live[alg][state].kid)
    return created


def _outcome(live, **kwargs) -> RotationOutcome:
    return RotationOutcome(
        current={alg: keys[SigningKey.State.CURRENT].kid for alg, keys in live.items()},
        next={alg: keys[SigningKey.State.NEXT].kid for alg, keys in live.items()},
        **kwargs,
    )


@transaction.atomic
def provision_signing_keys(*, now: datetime | None = None) -> list[SigningKey]:
    """Give this tenant a current and a next key per alg (the ones it lacks); idempotent.

    Called by tenant provisioning inside its transaction. Costs two RSA 2048 key
    generations (~50-200 ms each) and two EC ones (~1 ms each).
    """
    now = now or timezone.now()
    _, live = _lock_tenant_keys()
    created = _fill_missing(live, now)
    return list(SigningKey.objects.filter(kid__in=created))


def max_signed_token_lifetime(issuer: IssuerSettings | None = None) -> int:
    """Seconds the longest-lived JWT this tenant signs may live.

    The larger of the tenant's access token lifetime, any client's override of it and
    ``ID_TOKEN_LIFETIME``. A retiring key stays published this long (plus leeway), and
    ``sign_jwt`` refuses an ``exp`` beyond it.
    """
    issuer = issuer or IssuerSettings.load()
    client_max = Client.objects.aggregate(longest=Max("access_token_lifetime"))["longest"]
    return max(issuer.access_token_lifetime, client_max or 0, ID_TOKEN_LIFETIME)


@transaction.atomic
def rotate(now: datetime | None = None, *, force: bool = False) -> RotationOutcome:
    """Promote each alg's next key to current, demote current to retiring, make a new next.

    OIDC Core §10.1.1: a relying party fetches JWKS again only when its cache (max-age M)
    expires or it meets an unknown ``kid``. The next key is therefore promoted only once it
    has been published for at least M seconds (``IssuerSettings.jwks_max_age``); before
    that nothing changes and ``reason`` says why, unless ``force`` (an operator's
    override, e.g. after a key compromise). The old current key stays in JWKS (retiring)
    until ``retire_after`` = now + ``max_signed_token_lifetime`` + ``CLOCK_SKEW_LEEWAY``.
    Expired retiring keys are retired on the way. Safe to call concurrently: the second
    caller waits for the first, then finds a next key published just now and skips.
    """
    now = now or timezone.now()
    issuer, live = _lock_tenant_keys()
    retired = _retire_expired(now)
    created = _fill_missing(live, now)
    max_age = timedelta(seconds=issuer.jwks_max_age)
    not_ready = [
        (alg, _seconds(now - (keys[SigningKey.State.NEXT].published_at or now)))
        for alg, keys in live.items()
        if now - (keys[SigningKey.State.NEXT].published_at or now) < max_age
    ]
    if not_ready and not force:
        waits = ", ".join(f"{alg} next key published {age} s ago" for alg, age in not_ready)
        reason = (
            f"{waits}; relying parties may cache JWKS for {issuer.jwks_max_age} s "
            "(jwks_max_age), so it is not yet safe to sign with it; retry later or use --force"
        )
        return _outcome(live, rotated=False, reason=reason, retired=retired, created=created)

    retire_after = now + timedelta(seconds=max_signed_token_lifetime(issuer) + CLOCK_SKEW_LEEWAY)
    # Tokens already signed may outlive today's lifetimes (a lifetime was lowered since).
    latest = Token.objects.filter(jti__isnull=False).aggregate(m=Max("access_expires_at"))["m"]
    if latest is not None:
        retire_after = max(retire_after, latest + timedelta(seconds=CLOCK_SKEW_LEEWAY))
    retiring = {}
    for alg, keys in live.items():
        old, promoted = keys[SigningKey.State.CURRENT], keys[SigningKey.State.NEXT]
        # Demote first: the partial unique index allows one current key per alg.
        old.state, old.retire_after = SigningKey.State.RETIRING, retire_after
        old.save(update_fields=["state", "retire_after"])
        promoted.state, promoted.activated_at = SigningKey.State.CURRENT, now
        promoted.save(update_fields=["state", "activated_at"])
        retiring[alg] = old.kid
        keys[SigningKey.State.CURRENT] = promoted
        keys[SigningKey.State.NEXT] = _new_key(alg, SigningKey.State.NEXT, now)
        created.append(keys[SigningKey.State.NEXT].kid)
    outcome = _outcome(
        live,
        rotated=True,
        reason="forced" if not_ready else "",
        retiring=retiring,
        retire_after=retire_after,
        retired=retired,
        created=created,
    )
    logger.info(
        "signing keys rotated%s: current %s; retiring until %s",
        " (forced)" if not_ready else "",
        ", ".join(f"{alg}={kid}" for alg, kid in outcome.current.items()),
        retire_after.isoformat(),
    )
    return outcome


@transaction.atomic
def rotate_if_due(now: datetime | None = None) -> RotationOutcome:
    """Rotate when a current key is older than ``IssuerSettings.signing_key_rotation_days``.

    The periodic task calls this once per tenant, in that tenant's schema. It also retires
    expired retiring keys and makes any key the tenant lacks (tenants provisioned before
    signing keys existed). ``signing_key_rotation_days = 0`` turns automatic rotation off.
    """
    now = now or timezone.now()
    issuer, live = _lock_tenant_keys()
    retired = _retire_expired(now)
    created = _fill_missing(live, now)
    days = issuer.signing_key_rotation_days
    if not days:
        reason = "automatic rotation is off (signing_key_rotation_days = 0)"
    else:
        currents = [keys[SigningKey.State.CURRENT] for keys in live.values()]
        due_at = min(k.activated_at or k.created_at for k in currents) + timedelta(days=days)
        if now >= due_at:
            outcome = rotate(now)
            return replace(
                outcome, retired=retired + outcome.retired, created=created + outcome.created
            )
        reason = f"not due until {due_at.isoformat()}"
    return _outcome(live, rotated=False, reason=reason, retired=retired, created=created)


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


# --- Reads: JWKS and verification keys ----------------------------------------------------


def _published(now: datetime):
    return SigningKey.objects.filter(
        Q(state__in=(SigningKey.State.NEXT, SigningKey.State.CURRENT))
        | Q(state=SigningKey.State.RETIRING, retire_after__gt=now)
    )


def _public_members(jwk: dict) -> dict:
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    return {name: jwk[name] for name in (*members, "kid", "use", "alg")}


def _key_set(keys) -> dict:
    ordered = sorted(keys, key=lambda k: (_JWKS_ORDER[k.state], SUPPORTED_ALGS.index(k.alg), k.pk))
    return {"keys": [_public_members(key.public_jwk) for key in ordered]}


def jwks_document(now: datetime | None = None) -> dict:
    """This tenant's JWK Set (RFC 7517 §5): current, next and unexpired retiring keys.

    Public members only (never d, p, q, dp, dq, qi), each with ``kid``, ``use: sig`` and
    ``alg``; current keys first, for clients that take the first key.
    """
    return _key_set(_published(now or timezone.now()))


def jwks_max_age() -> int:
    """Seconds relying parties may cache JWKS; rotation waits this long after publishing."""
    return IssuerSettings.load().jwks_max_age


def verification_keys(now: datetime | None = None) -> dict:
    """JWK Set of the keys whose signatures this tenant still honours: current and retiring.

    Next keys have signed nothing, so they are left out. The dict is what
    ``joserfc.jwk.KeySet.import_key_set`` and Authlib's ``JsonWebKey.import_key_set`` take.
    """
    now = now or timezone.now()
    keys = _published(now).exclude(state=SigningKey.State.NEXT)
    return _key_set(keys)


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


# --- Signing and verifying (RFC 7515 compact serialisation) ------------------------------


def _json_default(value):
    if isinstance(value, datetime):
        return int(value.timestamp())  # RFC 7519 §2 NumericDate
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in a JWT")


def _encode_segment(value: dict) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return _b64url(text.encode())


def sign_jwt(claims: dict, *, alg: str = DEFAULT_ALG, typ: str | None = None) -> str:
    """Sign ``claims`` with this tenant's current ``alg`` key; header carries its ``kid``.

    RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3); ES256 is ECDSA P-256 with
    SHA-256, signature as the 64-byte R || S (RFC 7518 §3.4). ``typ`` sets the header's
    ``typ`` (``"at+jwt"`` for RFC 9068 access tokens). ``datetime`` claim values become
    NumericDates. ``claims`` must hold an integer ``exp`` no later than now +
    ``max_signed_token_lifetime()``: that bound is what lets a rotated-out key leave JWKS.
    """
    key = current_signing_key(alg)
    exp = claims.get("exp")
    if isinstance(exp, datetime):
        exp = int(exp.timestamp())
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise ValueError("a JWT this issuer signs needs an integer exp claim (RFC 7519 §4.1.4)")
    limit = int(timezone.now().timestamp()) + max_signed_token_lifetime()
    if exp > limit:
        raise ValueError(
            f"exp is {exp - limit} s beyond the longest token lifetime this tenant allows; "
            "a rotated-out key would leave JWKS before the token expired"
        )
    header = {"alg": alg, "kid": key.kid}
    if typ:
        header["typ"] = typ
    signing_input = f"{_encode_segment(header)}.{_encode_segment(claims)}".encode("ascii")
    private_key = _load_private_key(key.kid, key.private_key)
    if alg == SigningKey.Alg.RS256:
        signature = private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input.decode('ascii')}.{_b64url(signature)}"


def _media_type(value: str) -> str:
    # RFC 7515 §4.1.9: "application/" may be omitted from typ; compare case-insensitively.
    value = value.lower()
    return value.removeprefix("application/")


def verify_jwt(
    token: str, *, typ: str | None = None, now: datetime | None = None, leeway: int = 0
) -> dict:
    """Claims of a JWT this tenant signed, after checking signature, ``exp`` and ``nbf``.

    Accepts only RS256/ES256 under the ``kid`` of one of this tenant's current or retiring
    keys of that alg (so no "none", no HMAC with a public key, no other tenant's key).
    ``typ``, if given, must match the header's. It does NOT check ``iss``, ``aud``,
    ``nonce`` or anything else token-specific: the caller does. Raises
    ``JWTVerificationError``.
    """
    now = now or timezone.now()
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_b64url_decode(header_b64))
        claims = json.loads(_b64url_decode(payload_b64))
        signature = _b64url_decode(signature_b64)
    except (ValueError, TypeError, AttributeError, RecursionError):
        raise JWTVerificationError("malformed JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JWTVerificationError("malformed JWT")
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in SUPPORTED_ALGS or not isinstance(kid, str):
        raise JWTVerificationError("unsupported alg or missing kid")
    if typ is not None and _media_type(str(header.get("typ", ""))) != _media_type(typ):
        raise JWTVerificationError("unexpected typ")
    key = _published(now).exclude(state=SigningKey.State.NEXT).filter(kid=kid, alg=alg).first()
    if key is None:
        raise JWTVerificationError("unknown kid")
    public_key = _load_public_key(key.kid, json.dumps(key.public_jwk, sort_keys=True))
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    try:
        if alg == SigningKey.Alg.RS256:
            public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:
            if len(signature) != 64:
                raise InvalidSignature
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            public_key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise JWTVerificationError("bad signature") from None
    timestamp = now.timestamp()
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or timestamp >= exp + leeway:
        raise JWTVerificationError("expired or without exp")
    if nbf is not None and (not isinstance(nbf, int | float) or timestamp < nbf - leeway):
        raise JWTVerificationError("not yet valid")
    return claims
