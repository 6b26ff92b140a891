"""Reads of OAuth storage. Every query runs on ``connection``, whose search_path the tenant
middleware set, so everything here is the current tenant's (DESIGN.md §1)."""

from __future__ import annotations

import copy
import functools
import json
import time
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import NoReverseMatch, reverse
from django_tenants.utils import schema_context

from kernel import credentials
from kernel.conf import setting
from kernel.http import public_url
from kernel.ttlcache import TTLCache
from oauth import rowsql
from oauth.algs import ASYMMETRIC_ALGS, CLIENT_SECRET_JWT_ALGS, FAPI2_ALGS
from oauth.grant_types import GRANT_TYPES
from oauth.models import Branding, Client, Consent, GrantFamily, IssuerSettings, Token
from oauth.models.branding import HEX_COLOUR
from oauth.models.clients import MAX_CLIENT_ID_LENGTH
from oauth.registration.selectors import registration_metadata

# --- Issuer -----------------------------------------------------------------------------------


def issuer_for_request(request) -> str:
    """The tenant's issuer identifier (RFC 8414 §2, RFC 9207 §2, OIDC Discovery §4.3): the
    stored name of the Domain row that routed the request (``tenant.domain_url``, set by the
    routing middleware) with the configured public scheme and port (``kernel.http.public_url``).

    Never the raw Host header: ``alpha.example.`` (trailing dot), ``alpha.example:8443`` or
    ``ALPHA.example`` route to the same tenant, and echoing them would put a second issuer
    into discovery documents that caches keep, and into ``iss`` and ``aud``. Nor the request's
    scheme: behind the ingress the public scheme is configuration (https in production,
    where a plain-http request is redirected before it gets here). A tenant reached through a
    custom domain has that domain's issuer.
    """
    return public_url(request.tenant.domain_url)


# --- Issuer policy (IssuerSettings), cached per schema ------------------------------------------


@dataclass(frozen=True)
class IssuerPolicy:
    access_token_lifetime: int
    refresh_token_lifetime: int
    authorization_code_lifetime: int
    refresh_reuse_window: int
    default_resource: str
    scopes_supported: tuple[str, ...]
    #: Per-tenant rate-limit overrides by ``GATEHOUSE["RATE_LIMITS"]`` name; a name left out
    #: takes the platform default (``oauth.ratelimits``).
    rate_limits: tuple[tuple[str, int], ...] = ()
    #: RFC 9126 §5 for every client of the tenant.
    require_pushed_authorization_requests: bool = False
    #: "" or "fapi2" (``oauth.security_profile``).
    security_profile: str = ""
    #: RFC 9449 §8: DPoP proofs must carry this server's nonce (``oauth.dpop``).
    dpop_nonce_required: bool = False
    #: The row's version when read (``rowsql.first_versioned``), or None.
    version: str | None = None


#: ``GATEHOUSE["RATE_LIMITS"]`` names a tenant may override -> their ``IssuerSettings`` fields.
RATE_LIMIT_FIELDS = {
    "CLIENT_REQUESTS": "rate_limit_client_requests",
    "TENANT_REQUESTS": "rate_limit_tenant_requests",
    "IP_REQUESTS": "rate_limit_ip_requests",
    "IP_AUTH_FAILURES": "rate_limit_ip_auth_failures",
    "CLIENT_IP_AUTH_FAILURES": "rate_limit_client_ip_auth_failures",
}

#: Per schema: (policy, monotonic time it was last read or confirmed). Entries live for
#: ``ISSUER_SETTINGS_CONFIRMED_CACHE_SECONDS``; past ``ISSUER_SETTINGS_CACHE_SECONDS`` only a
#: request that confirms the policy it used may use one (``confirmed_issuer_policy``).
_policy_cache = TTLCache(ttl=lambda: setting("ISSUER_SETTINGS_CONFIRMED_CACHE_SECONDS"))


class PolicyChanged(Exception):
    """The issuer policy a request used from the cache has changed since it was read: answer
    the request again from the start, with the current policy (``oauth.views.endpoints``)."""


@dataclass
class PolicyUse:
    """The cached policy a confirming request used, and whether it is past the short
    lifetime (then it must be confirmed before the answer stands)."""

    schema: str = ""
    policy: IssuerPolicy | None = None
    aged: bool = False


_policy_use: ContextVar[PolicyUse | None] = ContextVar("gatehouse_policy_use", default=None)


def _load_issuer_policy() -> IssuerPolicy:
    # Read once per schema and period by every process: with 1,000 tenants hit at random
    # that is hundreds of reads a second, so not through the ORM's compiler (oauth.rowsql).
    found = rowsql.first_versioned(IssuerSettings)
    row, version = found if found is not None else (IssuerSettings.load(), None)
    return IssuerPolicy(
        access_token_lifetime=row.access_token_lifetime,
        refresh_token_lifetime=row.refresh_token_lifetime,
        authorization_code_lifetime=row.authorization_code_lifetime,
        refresh_reuse_window=row.refresh_reuse_window,
        default_resource=row.default_resource,
        scopes_supported=tuple(row.scopes_supported),
        rate_limits=tuple(
            (name, getattr(row, field))
            for name, field in RATE_LIMIT_FIELDS.items()
            if getattr(row, field) is not None
        ),
        require_pushed_authorization_requests=row.require_pushed_authorization_requests,
        security_profile=row.security_profile,
        dpop_nonce_required=row.dpop_nonce_required,
        version=version,
    )


def issuer_policy(*, fresh: bool = False) -> IssuerPolicy:
    """This tenant's ``IssuerSettings`` as an immutable snapshot.

    Every token and introspection request reads it, so it is cached in the process per
    schema: trusted for ``GATEHOUSE["ISSUER_SETTINGS_CACHE_SECONDS"]`` (default 5 s); saving
    the settings in this process drops the cache at once. Within ``confirmed_issuer_policy()``
    (client_credentials and introspection) an older entry is used as well, and the request's
    statement confirms it unchanged (``policy_version_to_confirm``), as the client cache's
    rows are confirmed: a change made anywhere applies to the next answer. Paths whose
    correctness depends on the latest value (the refresh reuse window) pass ``fresh=True``.
    """
    schema = connection.schema_name
    use = _policy_use.get()
    if not fresh:
        entry = _policy_cache.get(schema)
        if entry is not None:
            policy, checked = entry
            aged = time.monotonic() - checked > setting("ISSUER_SETTINGS_CACHE_SECONDS")
            if not aged or (use is not None and policy.version is not None):
                if use is not None and use.policy is None:
                    use.schema, use.policy, use.aged = schema, policy, aged
                return policy
    policy = _load_issuer_policy()
    _policy_cache.set(schema, (policy, time.monotonic()))
    if use is not None and use.policy is None:
        use.schema, use.policy, use.aged = schema, policy, False
    return policy


@contextmanager
def confirmed_issuer_policy(enabled: bool = True):
    """Within: ``issuer_policy()`` may answer from an entry past its short lifetime, which
    the request must then confirm (a statement with ``policy_version_to_confirm()``, then
    ``policy_confirmed()``; or ``policy_still_current()``). Yields the ``PolicyUse``, or None
    when not ``enabled``."""
    if not enabled:
        yield None
        return
    use = PolicyUse()
    reset = _policy_use.set(use)
    try:
        yield use
    finally:
        _policy_use.reset(reset)


def policy_version_to_confirm() -> str | None:
    """The version (``rowsql.first_versioned``) of the aged policy this request used, for its
    statement's ``rowsql.row_version_sql(IssuerSettings)``; None: nothing to confirm."""
    use = _policy_use.get()
    if use is None or not use.aged or use.policy is None:
        return None
    return use.policy.version


def policy_confirmed() -> None:
    """The request's statement confirmed its policy: the entry is trusted afresh."""
    use = _policy_use.get()
    if use is not None and use.aged and use.policy is not None:
        _policy_cache.set(use.schema, (use.policy, time.monotonic()))
        use.aged = False


def policy_changed() -> PolicyChanged:
    """The policy this request used is out of date: its entry is dropped; raise the answer."""
    use = _policy_use.get()
    if use is not None:
        _policy_cache.delete(use.schema)
    return PolicyChanged()


def policy_still_current() -> bool:
    """Whether the policy this request used may stand: not aged, or its row still at the
    version it was read at (one statement; the entry is then trusted afresh). When it has
    changed the entry is dropped, and the caller answers again (``PolicyChanged``)."""
    use = _policy_use.get()
    if use is None or not use.aged or use.policy is None:
        return True
    if rowsql.row_version(IssuerSettings) == use.policy.version:
        policy_confirmed()
        return True
    policy_changed()
    return False


def clear_issuer_policy_cache() -> None:
    _policy_cache.clear()


@receiver([post_save, post_delete], sender=IssuerSettings)
def _issuer_settings_changed(**kwargs) -> None:
    clear_issuer_policy_cache()


# --- Branding, cached per schema like the issuer policy -----------------------------------------


@dataclass(frozen=True)
class BrandingSnapshot:
    """What the tenant's pages show; ``logo_version`` (a digest prefix) is "" without a logo."""

    display_name: str
    primary_colour: str
    logo_version: str

    @property
    def primary_inverse(self) -> str:
        """Text on the primary colour: black or white, whichever contrasts more (WCAG 2.x
        relative luminance, with 0.179 as the point where both contrast equally)."""
        if not self.primary_colour:
            return ""
        channels = [int(self.primary_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
        return "#000" if luminance > 0.179 else "#fff"


_branding_cache = TTLCache(ttl=lambda: setting("ISSUER_SETTINGS_CACHE_SECONDS"))


def _load_branding() -> BrandingSnapshot:
    row = (
        Branding.objects.order_by("pk")
        .only("display_name", "primary_colour", "logo_sha256")
        .first()
    )
    if row is None:
        return BrandingSnapshot("", "", "")
    # Written into CSS by templates/base.html: re-checked here, whatever wrote the row.
    colour = row.primary_colour if HEX_COLOUR.regex.match(row.primary_colour) else ""
    return BrandingSnapshot(row.display_name, colour, row.logo_sha256[:16])


def branding() -> BrandingSnapshot:
    """This tenant's branding, read on every page: cached per schema for
    ``GATEHOUSE["ISSUER_SETTINGS_CACHE_SECONDS"]``, dropped in this process on save."""
    return _branding_cache.get_or_set(connection.schema_name, _load_branding)


def branding_logo(*, with_bytes: bool = True) -> Branding | None:
    """The branding row when the tenant has a logo (else None); without ``with_bytes`` only
    its digest and date, for conditional requests."""
    rows = Branding.objects.exclude(logo_sha256="").order_by("pk")
    return (rows if with_bytes else rows.only("logo_sha256", "updated_at")).first()


def clear_branding_cache() -> None:
    _branding_cache.clear()


@receiver([post_save, post_delete], sender=Branding)
def _branding_changed(**kwargs) -> None:
    clear_branding_cache()


def token_retention_seconds() -> int:
    """How long a token or code row outlives its last expiry, so replay and reuse
    detection still find it (DESIGN.md §3)."""
    return int(setting("TOKEN_RETENTION_SECONDS"))


# --- Clients ----------------------------------------------------------------------------------


#: Enabled clients by (tenant, schema, client_id), for ``client_by_client_id(cached=True)``.
#: The tenant's primary key is in the key: a schema name may return with a new tenant, a
#: primary key never does.
_client_cache = TTLCache(ttl=lambda: setting("CLIENT_CACHE_SECONDS"))


def client_by_client_id(*, client_id: str, cached: bool = False) -> Client | None:
    """An enabled client of this tenant, or None (one indexed query).

    ``cached=True`` may answer from this process's cache (a copy of the row as it was read,
    for up to ``GATEHOUSE["CLIENT_CACHE_SECONDS"]``), and is only for a caller that confirms
    the row is unchanged in the statement that acts on it: the client-credentials INSERT
    checks the client's ``updated_at`` and ``disabled`` in the same statement
    (``oauth.services.tokens.token_issue``), and on a mismatch the request is answered
    again from a fresh read. A disable, a secret rotation or any edit (each a ``save()``,
    which moves ``updated_at``) is thus seen at once by every process, without a round trip
    or a message. Unknown client_ids are never cached (a new client works at once).
    """
    if not client_id or len(client_id) > MAX_CLIENT_ID_LENGTH or "\x00" in client_id:
        return None
    if cached:
        key = (getattr(connection.tenant, "pk", None), connection.schema_name, client_id)
        hit = _client_cache.get(key)
        if hit is not None:
            client = copy.copy(hit)
            client.from_cache = True  # to be confirmed by the statement that uses it
            return client
    # One statement naming the tenant's schema (oauth.rowsql): no SET search_path for it.
    client = rowsql.get_by(Client, "client_id", client_id)
    if client is None or client.disabled:
        return None
    if cached:
        _client_cache.set(key, copy.copy(client))
    return client


def forget_cached_client(*, client_id: str) -> None:
    """Drop ``client_id`` of this tenant from this process's client cache."""
    _client_cache.delete(
        (getattr(connection.tenant, "pk", None), connection.schema_name, client_id)
    )


def origin_registered(*, origin: str) -> bool:
    """Whether any enabled client of this tenant lists ``origin`` for CORS (GIN index)."""
    if not origin or len(origin) > 2000:
        return False
    return Client.objects.filter(cors_origins__contains=[origin], disabled=False).exists()


def clients_search(*, query: str = "") -> QuerySet[Client]:
    """This tenant's clients whose name or client_id contains ``query``, by name."""
    clients = Client.objects.order_by("name", "pk")
    if query:
        clients = clients.filter(Q(name__icontains=query) | Q(client_id__icontains=query))
    return clients


def client_last_used(*, client: Client):
    """When ``client`` last got a token (issued, refreshed or exchanged), or None: the first
    entry of the (client, -issued_at) index, so no write on the token path. Tokens purged
    after their retention are forgotten, so "never" means "not recently"."""
    return (
        Token.objects.filter(client=client)
        .order_by("-issued_at")
        .values_list("issued_at", flat=True)
        .first()
    )


# --- Grants (consents and their token families), per user --------------------------------------


@dataclass(frozen=True)
class UserGrant:
    client: Client
    scope: str
    consented_at: object
    live_families: int


def user_grants(*, user) -> list[UserGrant]:
    """The clients ``user`` has granted access to: a remembered consent, live grant
    families (refresh chains), or both; one row per client, by client name."""
    consents = {c.client_id: c for c in Consent.objects.filter(user=user).select_related("client")}
    families: dict[int, list[GrantFamily]] = {}
    live = GrantFamily.objects.filter(user=user, revoked_at__isnull=True).select_related("client")
    for family in live:
        families.setdefault(family.client_id, []).append(family)
    grants = []
    for client_pk in set(consents) | set(families):
        consent = consents.get(client_pk)
        members = families.get(client_pk, [])
        client = consent.client if consent else members[0].client
        scope = (
            consent.scope
            if consent
            else " ".join(dict.fromkeys(s for f in members for s in f.scope.split()))
        )
        grants.append(
            UserGrant(
                client=client,
                scope=scope,
                consented_at=consent.updated_at if consent else None,
                live_families=len(members),
            )
        )
    return sorted(grants, key=lambda g: (g.client.name, g.client.pk))


# --- Tokens -----------------------------------------------------------------------------------

ACCESS = "access_token"
REFRESH = "refresh_token"


#: What an answer about a token needs of its client, user and grant family (introspection,
#: revocation): read in the token's own query, the rest of those rows left deferred.
_PRESENTED_RELATED = {
    "client": ("id", "client_id", "disabled"),
    "user": ("id", "is_active"),
    "family": ("id", "scope", "revoked_at"),
}


@functools.cache
def _presented_related() -> dict[str, list[str]]:
    """``_PRESENTED_RELATED`` with each model's fields in its concrete-field order, the
    order ``Model.from_db`` reads a partial row in."""
    ordered = {}
    for name, fields in _PRESENTED_RELATED.items():
        related = Token._meta.get_field(name).related_model._meta
        ordered[name] = [f.name for f in related.concrete_fields if f.name in fields]
    return ordered


@functools.cache
def client_unchanged_sql() -> str:
    """``EXISTS (<the client row of pk %s, with updated_at %s, still enabled>)``: how a
    statement confirms a client read from the process's cache (``client_by_client_id``),
    whose every UPDATE moves ``updated_at`` (migration 0009). Its two parameters are the
    client's pk and ``updated_at`` as read, in that order; tables named as ``oauth.rowsql``
    names them."""
    qn = connection.ops.quote_name
    client = Client._meta
    return (
        f"EXISTS (SELECT 1 FROM {rowsql.table(Client)} cc "
        f"WHERE cc.{qn(client.pk.column)} = %s "
        f"AND cc.{qn(client.get_field('updated_at').column)} = %s "
        f"AND NOT cc.{qn(client.get_field('disabled').column)})"
    )


@functools.cache
def _presented_sql(field: str) -> str:
    """``SELECT <token> , <client, user, family parts>, <confirmed> FROM oauth_token JOIN ...
    WHERE <field> = %s``: built once from the models. The ORM's ``select_related`` compiled
    the same query on every request, most of introspection's CPU on the benchmark."""
    qn = connection.ops.quote_name
    columns = [f"t.{qn(f.column)}" for f in Token._meta.concrete_fields]
    joins = []
    for alias, (name, fields) in enumerate(_presented_related().items()):
        fk = Token._meta.get_field(name)
        related = fk.related_model._meta
        table = f"r{alias}"
        columns += [f"{table}.{qn(related.get_field(f).column)}" for f in fields]
        kind = "LEFT JOIN" if fk.null else "JOIN"
        joins.append(
            f"{kind} {rowsql.table(fk.related_model)} {table} "
            f"ON {table}.{qn(related.pk.column)} = t.{qn(fk.column)}"
        )
    column = Token._meta.get_field(field).column
    return (
        f"SELECT {', '.join(columns)}, {client_unchanged_sql()}, "
        f"{rowsql.row_version_sql(IssuerSettings)} "
        f"FROM {rowsql.table(Token)} t {' '.join(joins)} "
        f"WHERE t.{qn(column)} = %s LIMIT 1"
    )


def _presented_row(values: tuple) -> Token:
    """A Token from ``_presented_sql``'s columns, its client, user and family attached with
    only the fields ``_PRESENTED_RELATED`` names loaded (``Model.from_db``)."""
    names = [f.attname for f in Token._meta.concrete_fields]
    row = Token.from_db(connection.alias, names, values[: len(names)])
    offset = len(names)
    for name, fields in _presented_related().items():
        part = values[offset : offset + len(fields)]
        offset += len(fields)
        if part[0] is not None:
            related = Token._meta.get_field(name).related_model
            attnames = [related._meta.get_field(f).attname for f in fields]
            setattr(row, name, related.from_db(connection.alias, attnames, part))
    row.confirmed = bool(values[offset])
    row.policy_current = bool(values[offset + 1])
    # jsonb comes from a raw cursor as text, and Model.from_db applies no field converters.
    if isinstance(row.act, str):
        row.act = json.loads(row.act)
    return row


def token_by_value(
    *, value: str, hint: str | None = None, confirm: Client | None = None, full: bool = False
) -> tuple[Token, str] | None:
    """The token row whose access or refresh token is ``value``, and which of the two it is.

    Looked up by SHA-256 digest only. ``hint`` (RFC 7009 §2.1, RFC 7662 §2.1) orders the
    search; an unknown or wrong hint is not an error, the other kind is searched as well.
    Within ``confirmed_issuer_policy()`` the same query confirms an aged issuer policy
    (``PolicyChanged`` when it has changed).
    One query per kind searched, the token with the parts of its client, user and grant
    family an answer needs (``_PRESENTED_RELATED``). ``confirm``: a cached client the same
    query confirms (still the enabled row it was read as: ``updated_at`` unchanged, which
    every UPDATE moves, migration 0009), its answer in the row's ``confirmed``. ``full``:
    the whole client, user and family rows (userinfo answers with the user's claims).
    """
    if not value:
        return None
    value_digest = credentials.digest(value)
    order = (REFRESH, ACCESS) if hint == REFRESH else (ACCESS, REFRESH)
    if full:
        rows = Token.objects.select_related("client", "family", "user")
        for kind in order:
            field = "access_digest" if kind == ACCESS else "refresh_digest"
            row = rows.filter(**{field: value_digest}).first()
            if row is not None:
                return row, kind
        return None
    pk, updated_at = (confirm.pk, confirm.updated_at) if confirm is not None else (None, None)
    version = policy_version_to_confirm()
    with rowsql.qualified_cursor() as cursor:
        for kind in order:
            field = "access_digest" if kind == ACCESS else "refresh_digest"
            sql = rowsql.in_schema(_presented_sql(field))
            cursor.execute(sql, [pk, updated_at, version, version, value_digest])
            found = cursor.fetchone()
            if found is not None:
                row = _presented_row(found)
                if version is not None:
                    if not row.policy_current:
                        raise policy_changed()
                    policy_confirmed()
                return row, kind
    return None


def refresh_token_by_value(*, value: str) -> Token | None:
    """The token row of refresh token ``value`` with its whole client, family and user (one
    statement built once: ``oauth.rowsql``), or None."""
    if not value:
        return None
    return rowsql.first_with_related(
        Token, ("client", "family", "user"), "refresh_digest", credentials.digest(value)
    )


# --- Consent ----------------------------------------------------------------------------------


def consented_scopes(*, user, client: Client) -> list[str]:
    """The scopes ``user`` already allowed ``client`` (remembered consent), in order."""
    consent = Consent.objects.filter(user=user, client=client).first()
    return consent.scope.split() if consent is not None else []


def consent_covers(*, user, client: Client, scope: str) -> bool:
    """Whether ``user`` already consented to ``client`` for every scope in ``scope``."""
    consent = Consent.objects.filter(user=user, client=client).first()
    if consent is None:
        return False
    return set(scope.split()) <= set(consent.scope.split())


# --- Metadata ---------------------------------------------------------------------------------

#: URL names whose endpoints are listed in the metadata when they are routed.
METADATA_ENDPOINTS = {
    "authorization_endpoint": "oauth-authorize",
    "token_endpoint": "oauth-token",
    "revocation_endpoint": "oauth-revoke",
    "introspection_endpoint": "oauth-introspect",
    "pushed_authorization_request_endpoint": "oauth-par",
    "jwks_uri": "oauth-jwks",
    "userinfo_endpoint": "oauth-userinfo",
    "device_authorization_endpoint": "oauth-device-authorization",
}

#: The grant types the server implements (RFC 6749 §4.1, §4.4, §6): the grants
#: ``oauth.server`` registers, one each (a test holds the two together).
GRANT_TYPES_SUPPORTED = GRANT_TYPES

SECRET_AUTH_METHODS = [Client.AuthMethod.BASIC.value, Client.AuthMethod.POST.value]


def authorization_server_metadata(request) -> dict:
    """RFC 8414 §2 metadata of this tenant's issuer, computed per request.

    ``grant_types_supported`` and ``response_modes_supported`` are explicit: their RFC 8414
    defaults would advertise the implicit grant and the fragment response mode, which this
    server does not support. The OIDC discovery document extends this dict.
    """
    issuer = issuer_for_request(request)
    metadata: dict = {"issuer": issuer}
    for key, name in METADATA_ENDPOINTS.items():
        try:
            metadata[key] = issuer + reverse(name)
        except NoReverseMatch:
            continue
    metadata.update(
        {
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(GRANT_TYPES_SUPPORTED),
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "prompt_values_supported": ["none", "login", "consent"],
        }
    )
    metadata.update(client_assertion_metadata(request))
    metadata.update(registration_metadata(request, issuer))
    return metadata


def client_assertion_metadata(request) -> dict:
    """RFC 8414 §2 ``*_auth_methods_supported`` and ``*_auth_signing_alg_values_supported``
    with the assertion methods (RFC 7523 §2.2, ``oauth.client_assertion``); under a FAPI 2.0
    tenant only ``private_key_jwt`` with PS256, ES256 or EdDSA (FAPI 2.0 §5.3.2.1, §5.4.1).
    The policy is the request's tenant's, even when the connection is on another schema."""
    schema = getattr(getattr(request, "tenant", None), "schema_name", None)
    same = schema is None or schema == connection.schema_name
    with nullcontext() if same else schema_context(schema):
        fapi2 = issuer_policy().security_profile == Client.SecurityProfile.FAPI2
    if fapi2:
        methods, algs = [Client.AuthMethod.PRIVATE_KEY_JWT.value], list(FAPI2_ALGS)
        introspection = methods
    else:
        assertions = [Client.AuthMethod.PRIVATE_KEY_JWT.value, Client.AuthMethod.SECRET_JWT.value]
        methods = [*SECRET_AUTH_METHODS, "none", *assertions]
        introspection = [*SECRET_AUTH_METHODS, *assertions]
        algs = [*ASYMMETRIC_ALGS, *CLIENT_SECRET_JWT_ALGS]
    metadata: dict = {}
    for endpoint, allowed in (
        ("token", methods),
        ("revocation", methods),
        ("introspection", introspection),
    ):
        metadata[f"{endpoint}_endpoint_auth_methods_supported"] = list(allowed)
        metadata[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] = list(algs)
    return metadata


def clients_using_scopes(*, exclude: list[str]) -> dict[str, list[str]]:
    """Scopes outside ``exclude`` that clients are registered for: scope -> client names.

    Allowed scopes may not shrink under a registered client (``check_scopes_allowed``).
    """
    allowed = set(exclude)
    used: dict[str, list[str]] = {}
    for name, scopes in Client.objects.order_by("name", "pk").values_list("name", "scopes"):
        for scope in scopes:
            if scope not in allowed:
                used.setdefault(scope, []).append(name)
    return used
