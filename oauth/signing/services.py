"""Writes to this tenant's signing keys: provisioning, rotation, re-encryption at rest.

Every function works on the schema the connection is on (``connection.tenant``); outside a
request wrap calls in ``schema_context``. Key changes in a schema are serialised by a row
lock on its IssuerSettings row, so concurrent callers never leave two current keys.

Rotation without a gap (OIDC Core §10.1.1)
    States move next -> current -> retiring -> retired. JWKS publishes next, current and
    retiring keys with ``Cache-Control: max-age=M`` (``IssuerSettings.jwks_max_age``).
    ``rotate`` promotes the next key only once every relying party's cached JWKS holds it:
    at once if it was made before the tenant's JWKS was first served, else once it has
    been published for M seconds (``selectors.rotation_safe_at``); the old current key keeps being
    published (retiring) until ``retire_after`` = rotation time + ``max_signed_token_lifetime``
    + ``CLOCK_SKEW_LEEWAY``, when every token it signed has expired even for a verifier
    with a lenient clock. ``jws.sign_jwt`` refuses an ``exp`` beyond that lifetime, so the
    bound holds by construction. Retired rows are kept for audit with the private key
    erased.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from kernel.audit.services import audit_record
from kernel.ttlcache import TTLCache
from oauth.models import IssuerSettings, SigningKey, Token
from oauth.signing.constants import CLOCK_SKEW_LEEWAY, PROVISIONED_ALGS, SUPPORTED_ALGS
from oauth.signing.encryption import (
    KeyDecryptionError,
    encrypt_private_key,
    key_encryption,
    reencrypt_private_key,
)
from oauth.signing.keys import generate_key, private_key_pem, public_jwk
from oauth.signing.selectors import (
    PUBLISHED_STATES,
    max_signed_token_lifetime,
    rotation_safe_at,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RotationOutcome:
    """What ``rotate`` / ``rotate_if_due`` did in the current tenant schema."""

    rotated: bool
    reason: str = ""
    current: dict[str, str] = field(default_factory=dict)  # alg -> kid, after the call
    next: dict[str, str] = field(default_factory=dict)  # alg -> kid, after the call
    retiring: dict[str, str] = field(default_factory=dict)  # alg -> kid demoted by this call
    retire_after: datetime | None = None
    safe_at: datetime | None = None  # not rotated: when rotating becomes safe
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


def signing_key_create(*, alg: str, state: str, now: datetime) -> SigningKey:
    """A new key for ``alg`` in ``state``: kid its RFC 7638 thumbprint, private part encrypted."""
    key = generate_key(alg)
    jwk = public_jwk(key, alg)
    return SigningKey.objects.create(
        kid=jwk["kid"],
        alg=alg,
        state=state,
        public_jwk=jwk,
        private_key=encrypt_private_key(private_key_pem(key)),
        published_at=now,
        activated_at=now if state == SigningKey.State.CURRENT else None,
    )


def _lock_tenant_keys() -> tuple[IssuerSettings, dict[str, dict[str, SigningKey]]]:
    """Serialise key changes in this schema; return the issuer policy and the live keys.

    The tenant's one IssuerSettings row is the mutex (it exists even before any key does);
    the keys are then read, and locked, with a fresh snapshot, so a rotation that waited
    for another one sees that one's new next key. The live algs are the provisioned ones and
    any lazy one (PS256) the tenant already has keys of.
    """
    issuer = IssuerSettings.load()
    issuer = IssuerSettings.objects.select_for_update().get(pk=issuer.pk)
    live: dict[str, dict[str, SigningKey]] = {alg: {} for alg in PROVISIONED_ALGS}
    keys = SigningKey.objects.select_for_update().filter(state__in=PUBLISHED_STATES)
    for key in keys.order_by("pk"):
        if key.alg in SUPPORTED_ALGS:
            live.setdefault(key.alg, {})
            if key.state != SigningKey.State.RETIRING:
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
    for alg in live:
        for state in (SigningKey.State.CURRENT, SigningKey.State.NEXT):
            if state not in live[alg]:
                live[alg][state] = signing_key_create(alg=alg, state=state, now=now)
                created.append(live[alg][state].kid)
    return created


def _outcome(live, **kwargs) -> RotationOutcome:
    return RotationOutcome(
        current={alg: keys[SigningKey.State.CURRENT].kid for alg, keys in live.items()},
        next={alg: keys[SigningKey.State.NEXT].kid for alg, keys in live.items()},
        **kwargs,
    )


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


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


@transaction.atomic
def signing_keys_ensure(*, alg: str, now: datetime | None = None) -> list[str]:
    """Give this tenant a current and a next key for ``alg`` if it lacks them (a lazy alg,
    ``constants.LAZY_ALGS``); returns the kids made. Serialised by the tenant's key lock, so
    concurrent first uses make one pair. The new current key signs at once: no relying
    party can hold a JWKS without it that it relied on for this alg, and one meeting its
    unknown ``kid`` fetches JWKS again (OIDC Core §10.1.1). From then on it rotates with the
    others."""
    if alg not in SUPPORTED_ALGS:
        raise ValueError(f"unsupported signing alg {alg!r}; use one of {', '.join(SUPPORTED_ALGS)}")
    now = now or timezone.now()
    _, live = _lock_tenant_keys()
    live.setdefault(alg, {})
    created = _fill_missing({alg: live[alg]}, now)
    if created:
        logger.info("signing keys made for %s on first need: %s", alg, ", ".join(created))
    return created


@transaction.atomic
def rotate(now: datetime | None = None, *, force: bool = False) -> RotationOutcome:
    """Promote each alg's next key to current, demote current to retiring, make a new next.

    OIDC Core §10.1.1: a relying party fetches JWKS again only when its cache (max-age M)
    expires or it meets an unknown ``kid``. The next key is therefore promoted only once
    every JWKS a relying party may hold lists it: at once when it was made before the
    tenant's JWKS was first served, else after it has been published for M seconds
    (``IssuerSettings.jwks_max_age``; ``selectors.rotation_safe_at``). Before that nothing
    changes, ``reason`` says why and ``safe_at`` from when, unless ``force`` (an
    operator's override, e.g. after a key compromise). A rotation is audited
    (``keys.rotated``, saying whether it was forced). The old current key stays in JWKS (retiring)
    until ``retire_after`` = now + ``max_signed_token_lifetime`` + ``CLOCK_SKEW_LEEWAY``.
    Expired retiring keys are retired on the way. Safe to call concurrently: the second
    caller waits for the first, then finds a next key published just now and skips (once
    the tenant's JWKS has been served).
    """
    now = now or timezone.now()
    issuer, live = _lock_tenant_keys()
    retired = _retire_expired(now)
    created = _fill_missing(live, now)
    not_ready = {
        alg: safe_at
        for alg, keys in live.items()
        if (safe_at := rotation_safe_at(issuer, keys[SigningKey.State.NEXT], now))
    }
    if not_ready and not force:
        safe_at = max(not_ready.values())
        waits = ", ".join(
            f"{alg} next key published "
            f"{_seconds(now - (live[alg][SigningKey.State.NEXT].published_at or now))} s ago"
            for alg in not_ready
        )
        reason = (
            f"{waits}, after this tenant's JWKS was first served; relying parties may cache "
            f"JWKS for {issuer.jwks_max_age} s (jwks_max_age), so it is not safe to sign with "
            f"it before {safe_at.isoformat()}; retry then or use --force"
        )
        return _outcome(
            live,
            rotated=False,
            reason=reason,
            safe_at=safe_at,
            retired=retired,
            created=created,
        )

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
        keys[SigningKey.State.NEXT] = signing_key_create(
            alg=alg, state=SigningKey.State.NEXT, now=now
        )
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
    audit_record(
        action="keys.rotated",
        object_type="signing_keys",
        object_id=" ".join(outcome.current.values()),
        object_label="Signing keys",
        changes={
            "current": {"old": retiring, "new": dict(outcome.current)},
            "forced": {"old": None, "new": bool(not_ready)},
            "retire_after": {"old": None, "new": retire_after.isoformat()},
        },
    )
    logger.info(
        "signing keys rotated%s: current %s; retiring until %s",
        " (forced)" if not_ready else "",
        ", ".join(f"{alg}={kid}" for alg, kid in outcome.current.items()),
        retire_after.isoformat(),
    )
    return outcome


def jwks_first_served() -> None:
    """Record that this tenant's JWKS is being served for the first time (one conditional
    UPDATE; the JWKS view calls it only while ``jwks_first_served_at`` is unset).

    Run before the document is read, outside a transaction: the UPDATE waits for a key
    change holding the tenant's key lock, so every key stamped before this moment is in the
    document served, and every key made later is stamped later.
    """
    IssuerSettings.objects.filter(jwks_first_served_at__isnull=True).update(
        jwks_first_served_at=timezone.now()
    )


#: How often one process records that a key signed (``SigningKey.last_signed_at``).
LAST_SIGNED_RESOLUTION = 60
_recently_recorded = TTLCache(ttl=lambda: LAST_SIGNED_RESOLUTION)


def signing_key_used(key: SigningKey) -> None:
    """Note that ``key`` just signed a JWT: one UPDATE per key per process per minute.

    Signing is on the token hot path, so no write per token; the write runs after the
    caller's transaction commits, so it never holds the key's row lock while tokens are
    issued.
    """
    marker = (connection.schema_name, key.kid)
    if _recently_recorded.get(marker):
        return
    _recently_recorded.set(marker, True)
    now = timezone.now()
    transaction.on_commit(
        lambda: (
            SigningKey.objects.filter(pk=key.pk)
            .filter(Q(last_signed_at__isnull=True) | Q(last_signed_at__lt=now))
            .update(last_signed_at=now)
        )
    )


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


@transaction.atomic
def reencrypt_private_keys() -> int:
    """Re-encrypt this tenant's private keys with the newest encryption key; returns a count.

    Run after prepending a new GATEHOUSE_KEY_ENCRYPTION_KEY entry; once every tenant is done
    the old entry can be removed.
    """
    key_encryption()  # an unusable configuration is refused even for a tenant without keys
    count = 0
    for key in SigningKey.objects.select_for_update().exclude(private_key="").order_by("pk"):
        try:
            key.private_key = reencrypt_private_key(key.private_key)
        except KeyDecryptionError:
            raise ImproperlyConfigured(
                f"signing key {key.kid} cannot be decrypted with any "
                "GATEHOUSE_KEY_ENCRYPTION_KEY entry; nothing was re-encrypted"
            ) from None
        key.save(update_fields=["private_key"])
        count += 1
    return count
