"""Seeds Gatehouse for ``bench/run.py``: tenants and clients through the operator CLI, the
other tenants cloned, and pools of tokens and codes.

- ``t0001`` is provisioned with ``provision_tenant`` and its clients registered with
  ``register_client`` (opaque, JWT RS256, JWT with an ES256 id_token alg, a resource server,
  a confidential web client for code + PKCE and refresh).
- ``t0002`` ... ``tNNNN`` are clones of ``t0001``'s schema (``pg_dump`` of it replayed
  under another name, rows included: the same clients and signing keys in every tenant),
  with their ``Tenant`` and ``Domain`` rows: provisioning 1,000 tenants one by one takes longer
  than a bench run should (``bench/tenancy.py`` measures it). A clone differs from a
  provisioned tenant only in sharing t0001's keys and client ids.
- ``suspended`` is one more clone, suspended with ``tenants.services.tenant_set_status``.
- Pools: access tokens for introspection (rows built by ``oauth.services.tokens.token_row``,
  bulk-inserted), refresh tokens each in its own grant family, authorization codes with a
  PKCE S256 challenge through ``oauth.services.codes.authorization_code_create`` (the
  tenant's code lifetime raised to an hour so a pool outlives the run).

Runs inside ``bench/run.py``'s process after ``common.setup_django``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import common

BASE = "t0001"
SUSPENDED = "suspended"
VERIFIER = "bench-verifier-" + "v" * 40
CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
)
REDIRECT_URI = "https://app.bench.test/callback"


def host(slug: str) -> str:
    return f"{slug}.{common.BASE_DOMAIN}"


def slug_for(i: int) -> str:
    return f"t{i:04d}"


def provision(env: dict[str, str]) -> dict:
    """t0001 and its clients through the CLI; the clients' Basic credentials."""
    common.provision_tenant(env, BASE, "Tenant 1", "bench-Admin-pw-42!")

    def client(name: str, *options: str) -> str:
        return common.basic_auth(common.register_client(env, BASE, name, *options))

    return {
        "cc": client("cc", "--scope", "api"),
        "jwt_rs256": client("jwt-rs", "--scope", "api", "--access-token-format", "jwt"),
        "jwt_es256": client(
            "jwt-es", "--scope", "api", "--access-token-format", "jwt", "--id-token-alg", "ES256"
        ),
        "introspect": client("rs", "--scope", "api", "--can-introspect"),
        "web": client(
            "web",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--redirect-uri",
            REDIRECT_URI,
            "--scope",
            "openid api",
            "--auth-method",
            "client_secret_basic",
        ),  # fmt: skip
    }


def clone_tenants(database_url: str, count: int) -> float:
    """t0002..t{count} and ``suspended`` as clones of t0001; seconds taken.

    ``pg_dump`` of t0001's schema (before any token exists), the schema name replaced, and
    replayed by two ``psql`` sessions, 20 schemas per transaction (each schema takes ~75
    locks: well inside ``max_locks_per_transaction`` x connections). django-tenants'
    ``clone_schema`` SQL function took 2.5 s per schema here, the replay ~0.25 s.
    """
    from django.db import connection

    from tenants.models import Domain, Tenant
    from tenants.services import tenant_set_status

    started = time.monotonic()
    dump = subprocess.run(
        ["pg_dump", "--dbname", database_url, "--schema", BASE, "--no-owner", "--no-privileges"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    slugs = [slug_for(i) for i in range(2, count + 1)] + [SUSPENDED]
    batches = [slugs[i : i + 20] for i in range(0, len(slugs), 20)]
    running: list[subprocess.Popen] = []
    for batch in batches:
        if len(running) == 2:
            running.pop(0).wait()
        sql = "".join(dump.replace(BASE, slug) for slug in batch)
        proc = subprocess.Popen(
            ["psql", "--dbname", database_url, "-q", "-1", "-v", "ON_ERROR_STOP=1", "-o",
             "/dev/null"],
            stdin=subprocess.PIPE, text=True,
        )  # fmt: skip
        proc.stdin.write(sql)
        proc.stdin.close()
        running.append(proc)
    for proc in running:
        proc.wait()
    connection.set_schema_to_public()
    base = Tenant.objects.get(schema_name=BASE)
    tenants = Tenant.objects.bulk_create(
        Tenant(schema_name=slug, slug=slug, name=slug, status=base.status, plan=base.plan)
        for slug in slugs
    )
    Domain.objects.bulk_create(
        Domain(domain=host(t.slug), tenant=t, is_primary=True) for t in tenants
    )
    tenant_set_status(tenant=Tenant.objects.get(slug=SUSPENDED), status=Tenant.Status.SUSPENDED)
    return time.monotonic() - started


def _tokens(client, count: int, *, refresh: bool = False) -> list[str]:
    """``count`` tokens of ``client`` in the current schema (refresh: each in a family of
    the tenant's admin); the access tokens, or the refresh tokens."""
    from django.utils import timezone

    from oauth.models import GrantFamily, Token
    from oauth.services.tokens import purge_after, token_row

    now = timezone.now()
    user = None
    families = [None] * count
    if refresh:
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.order_by("pk").first()
        families = GrantFamily.objects.bulk_create(
            GrantFamily(client=client, user=user, scope="openid api", auth_time=now,
                        purge_after=purge_after(now + timedelta(days=2)))
            for _ in range(count)
        )  # fmt: skip
    values, rows = [], []
    for family in families:
        token = {"access_token": secrets.token_urlsafe(32), "expires_in": 86400, "scope": "api"}
        if refresh:
            token["refresh_token"] = secrets.token_urlsafe(32)
        rows.append(
            token_row(client=client, token=token, now=now, family=family,
                      user_id=user.pk if user else None,
                      refresh_lifetime=86400 if refresh else None)
        )  # fmt: skip
        values.append(token["refresh_token"] if refresh else token["access_token"])
    Token.objects.bulk_create(rows, batch_size=2000)
    return values


def pools(out: Path, *, tenants: int, tokens: int, refresh: int, codes: int) -> dict[str, int]:
    """Write the pools' files (one "host<TAB>token" a line); their sizes."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from oauth.models import Client
    from oauth.services.codes import authorization_code_create
    from oauth.services.issuer import issuer_settings_update

    out.mkdir(parents=True, exist_ok=True)

    def write(name: str, lines: list[str]) -> None:
        (out / f"{name}.txt").write_text("\n".join(lines) + "\n")

    with schema_context(BASE):
        cc = Client.objects.get(name="cc")
        web = Client.objects.get(name="web")
        write("gh_tokens_1", [f"{host(BASE)}\t{t}" for t in _tokens(cc, tokens)])
        write("gh_refresh", [f"{host(BASE)}\t{t}" for t in _tokens(web, refresh, refresh=True)])
        issuer_settings_update(authorization_code_lifetime=3600)
        user = get_user_model().objects.order_by("pk").first()
        code_values = [secrets.token_urlsafe(32) for _ in range(codes)]
        with transaction.atomic():
            for code in code_values:
                authorization_code_create(
                    client=web, user=user, code=code, redirect_uri=REDIRECT_URI,
                    scope="api", auth_time=timezone.now(),
                    code_challenge=CHALLENGE, code_challenge_method="S256",
                )  # fmt: skip
        write("gh_codes", [f"{host(BASE)}\t{c}" for c in code_values])
    per_tenant = max(1, tokens // tenants)
    spread = []
    for i in range(1, tenants + 1):
        with schema_context(slug_for(i)):
            cc = Client.objects.get(name="cc")
            spread += [f"{host(slug_for(i))}\t{t}" for t in _tokens(cc, per_tenant)]
    write("gh_tokens_n", spread)
    write("gh_hosts_n", [f"{host(slug_for(i))}\t" for i in range(1, tenants + 1)])
    return {"tokens": tokens, "tokens_n": len(spread), "refresh": refresh, "codes": codes}
