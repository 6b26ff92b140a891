"""Token exchange (RFC 8693) at the token endpoint, in process: impersonation, delegation
chains in ``act``, the per-client policy, refused subject tokens, and the audit trail."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.oauth.exchange.helpers import (
    ACCESS,
    ID_TOKEN,
    REFRESH,
    TOKEN_EXCHANGE,
    exchange,
    exchanged,
    make_exchanger,
)
from tests.support.factories import (
    assert_error,
    assert_no_store,
    client_credentials_token,
    introspect,
    make_client,
    make_user,
    make_web_client,
    revoke,
    user_tokens,
)
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db


def _user_token(tenant, scope: str = "api read", resource: str | None = None, **client_options):
    """A user's tokens from the code flow of a web client of ``tenant``."""
    web = make_web_client(tenant, **client_options)
    user = make_user(tenant)
    return web, user, user_tokens(tenant, web, user, scope=scope, resource=resource)


def _introspected(tenant, token: str) -> dict:
    rs = make_client(tenant, name="Downstream API", can_introspect=True)
    response = introspect(tenant, rs, token)
    assert response.status_code == 200, response.content
    return response.json()


def _move_expiry(tenant, token: str, delta: timedelta) -> None:
    from django.utils import timezone

    from kernel import credentials
    from oauth.models import Token

    with tenant.context():
        moved = Token.objects.filter(access_digest=credentials.digest(token)).update(
            access_expires_at=timezone.now() + delta
        )
    assert moved == 1


def _jwt_claims(tenant, token: str) -> dict:
    from oauth.signing.jws import verify_jwt

    with tenant.context():
        return verify_jwt(token, typ="at+jwt")


def test_impersonation_issues_a_token_for_the_subject_user(tenant):
    _, user, tokens = _user_token(tenant)
    service = make_exchanger(tenant)
    response = exchange(tenant, service, tokens["access_token"])
    assert response.status_code == 200, response.content
    assert_no_store(response)
    body = response.json()
    # RFC 8693 §2.2.1, and no refresh token.
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in", "scope"}
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer"
    assert body["scope"] == "api read"
    assert 0 < body["expires_in"] <= tokens["expires_in"]
    assert body["access_token"] != tokens["access_token"]
    info = _introspected(tenant, body["access_token"])
    assert info["active"] is True and info["sub"] == str(user.pk)
    assert info["client_id"] == service.client_id and info["scope"] == "api read"
    assert "act" not in info
    # Other grants' tokens carry no act: SQL NULL, not a JSON null.
    from kernel import credentials
    from oauth.models import Token

    own = client_credentials_token(tenant, service)["access_token"]
    assert "act" not in _introspected(tenant, own)
    with tenant.context():
        assert Token.objects.filter(
            access_digest=credentials.digest(own), act__isnull=True
        ).exists()


@pytest.mark.parametrize("token_format", ["opaque", "jwt"])
def test_delegation_chain_over_two_hops(tenant_a, token_format):
    """A's token exchanged by S1 acting as itself, the result exchanged by S2: the last token
    stands for A, acted on by S2 after S1 (RFC 8693 §4.1)."""
    _, user, tokens = _user_token(tenant_a, access_token_format=token_format)
    s1 = make_exchanger(tenant_a, name="S1", access_token_format=token_format)
    s2 = make_exchanger(tenant_a, name="S2", access_token_format=token_format)
    s1_own = client_credentials_token(tenant_a, s1)["access_token"]
    s2_own = client_credentials_token(tenant_a, s2)["access_token"]

    hop1 = exchanged(
        tenant_a, s1, tokens["access_token"], actor_token=s1_own, actor_token_type=ACCESS
    )
    hop2 = exchanged(
        tenant_a, s2, hop1["access_token"], actor_token=s2_own, actor_token_type=ACCESS
    )

    first = _introspected(tenant_a, hop1["access_token"])
    assert first["sub"] == str(user.pk) and first["act"] == {"sub": s1.client_id}
    second = _introspected(tenant_a, hop2["access_token"])
    assert second["active"] is True and second["sub"] == str(user.pk)
    assert second["client_id"] == s2.client_id
    assert second["act"] == {"sub": s2.client_id, "act": {"sub": s1.client_id}}
    assert hop2["expires_in"] <= hop1["expires_in"] <= tokens["expires_in"]
    if token_format == "jwt":
        claims = _jwt_claims(tenant_a, hop2["access_token"])
        assert claims["sub"] == str(user.pk) and claims["client_id"] == s2.client_id
        assert claims["act"] == {"sub": s2.client_id, "act": {"sub": s1.client_id}}
        assert claims["iss"] == tenant_a.issuer

    # Impersonating a delegated token keeps its chain; a delegated token cannot act.
    again = exchanged(tenant_a, s1, hop2["access_token"])
    assert _introspected(tenant_a, again["access_token"])["act"] == second["act"]
    delegated = hop1["access_token"]
    refused = exchange(
        tenant_a, s1, tokens["access_token"], actor_token=delegated, actor_token_type=ACCESS
    )
    assert_error(refused, 400, "invalid_grant")


def test_a_user_may_be_the_actor(tenant_a):
    _, subject_user, tokens = _user_token(tenant_a)
    _, acting_user, acting = _user_token(tenant_a)
    service = make_exchanger(tenant_a)
    body = exchanged(
        tenant_a, service, tokens["access_token"], actor_token=acting["access_token"],
        actor_token_type=ACCESS,
    )  # fmt: skip
    info = _introspected(tenant_a, body["access_token"])
    assert info["sub"] == str(subject_user.pk) and info["act"] == {"sub": str(acting_user.pk)}


def test_a_client_without_the_grant_type_may_not_exchange(tenant_a):
    _, _, tokens = _user_token(tenant_a)
    plain = make_client(tenant_a, name="Plain service")
    subject = tokens["access_token"]
    body = assert_error(exchange(tenant_a, plain, subject), 400, "unauthorized_client")
    assert TOKEN_EXCHANGE in body["error_description"]
    web_without = make_web_client(tenant_a)
    assert_error(exchange(tenant_a, web_without, subject), 400, "unauthorized_client")


def test_audiences_are_the_subject_tokens_own_or_the_clients_policy(tenant_a):
    api, downstream = "https://api.example.com", "https://downstream.example.com"
    _, _, tokens = _user_token(tenant_a, resource=api, resources=[api])
    subject = tokens["access_token"]
    limited = make_exchanger(tenant_a, name="No audiences")
    own_audience = exchanged(tenant_a, limited, subject)["access_token"]
    assert _introspected(tenant_a, own_audience)["aud"] == api
    assert exchange(tenant_a, limited, subject, resource=api).status_code == 200
    assert_error(exchange(tenant_a, limited, subject, audience=downstream), 400, "invalid_target")

    allowed = make_exchanger(tenant_a, token_exchange_audiences=[downstream, "urn:example:ledger"])
    for params in ({"audience": downstream}, {"resource": downstream}):
        body = exchanged(tenant_a, allowed, subject, **params)
        assert _introspected(tenant_a, body["access_token"])["aud"] == downstream
    logical = exchanged(tenant_a, allowed, subject, audience="urn:example:ledger")
    assert _introspected(tenant_a, logical["access_token"])["aud"] == "urn:example:ledger"
    for params in (
        {"audience": "https://elsewhere.example.com"},
        {"resource": "https://elsewhere.example.com"},
        {"resource": api, "audience": downstream},  # one target per token
    ):
        assert_error(exchange(tenant_a, allowed, subject, **params), 400, "invalid_target")


def test_scope_is_never_wider_than_the_subject_tokens(tenant_a):
    _, _, narrow = _user_token(tenant_a, scope="api")
    service = make_exchanger(tenant_a)
    for wider in ("api read", "read", "openid"):
        body = assert_error(
            exchange(tenant_a, service, narrow["access_token"], scope=wider), 400, "invalid_scope"
        )
        assert "wider" in body["error_description"]
    _, _, broad = _user_token(tenant_a, scope="api read")
    body = exchanged(tenant_a, service, broad["access_token"], scope="read")
    assert body["scope"] == "read"
    assert _introspected(tenant_a, body["access_token"])["scope"] == "read"


def test_lifetime_never_goes_beyond_the_subject_tokens_expiry(tenant_a):
    _, _, tokens = _user_token(tenant_a)
    _move_expiry(tenant_a, tokens["access_token"], timedelta(seconds=120))
    service = make_exchanger(tenant_a)
    body = exchanged(tenant_a, service, tokens["access_token"])
    assert 100 <= body["expires_in"] <= 120
    info = _introspected(tenant_a, body["access_token"])
    assert info["exp"] <= _introspected(tenant_a, tokens["access_token"])["exp"]


def test_expired_revoked_or_unknown_subject_tokens_are_invalid_grant(tenant_a):
    service = make_exchanger(tenant_a)
    _, _, expired = _user_token(tenant_a)
    _move_expiry(tenant_a, expired["access_token"], timedelta(seconds=-1))
    assert_error(exchange(tenant_a, service, expired["access_token"]), 400, "invalid_grant")

    web, _, revoked = _user_token(tenant_a)
    assert revoke(tenant_a, web, revoked["access_token"]).status_code == 200
    assert_error(exchange(tenant_a, service, revoked["access_token"]), 400, "invalid_grant")

    _, _, live = _user_token(tenant_a)
    for value in ("not-a-token-at-all", live["refresh_token"]):
        assert_error(exchange(tenant_a, service, value), 400, "invalid_grant")
    # A refused actor token refuses the exchange too.
    own = client_credentials_token(tenant_a, service)["access_token"]
    _move_expiry(tenant_a, own, timedelta(seconds=-1))
    refused = exchange(
        tenant_a, service, live["access_token"], actor_token=own, actor_token_type=ACCESS
    )
    assert_error(refused, 400, "invalid_grant")
    # A client's own token is no subject: token exchange acts for users.
    fresh = client_credentials_token(tenant_a, service)["access_token"]
    assert_error(exchange(tenant_a, service, fresh), 400, "invalid_grant")
    # A disabled user's tokens exchange to nothing.
    _, user, disabled = _user_token(tenant_a)
    with tenant_a.context():
        type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert_error(exchange(tenant_a, service, disabled["access_token"]), 400, "invalid_grant")


@pytest.mark.parametrize("token_format", ["opaque", "jwt"])
def test_a_subject_token_of_another_tenant_is_invalid_grant(tenant_a, tenant_b, token_format):
    _, _, from_b = _user_token(tenant_b, access_token_format=token_format)
    service_a = make_exchanger(tenant_a)
    with CaptureQueriesContext(connection) as queries:
        response = exchange(tenant_a, service_a, from_b["access_token"])
    assert_error(response, 400, "invalid_grant")
    # Never looked up in the other tenant's schema.
    assert not any(tenant_b.schema in query["sql"] for query in queries.captured_queries)
    # Nor as an actor token, nor as an id_token.
    _, _, own = _user_token(tenant_a)
    as_actor = exchange(
        tenant_a, service_a, own["access_token"], actor_token=from_b["access_token"],
        actor_token_type=ACCESS,
    )  # fmt: skip
    assert_error(as_actor, 400, "invalid_grant")
    # The token still works at home.
    service_b = make_exchanger(tenant_b)
    assert exchange(tenant_b, service_b, from_b["access_token"]).status_code == 200


def test_an_id_token_is_exchanged_by_the_client_it_was_issued_to(tenant_a, tenant_b):
    grants = ["authorization_code", "refresh_token", TOKEN_EXCHANGE]
    web, user, tokens = _user_token(tenant_a, scope="openid api", grant_types=grants)
    id_token = tokens["id_token"]
    # Its scope is what the user consented to for that client.
    body = exchanged(tenant_a, web, id_token, ID_TOKEN)
    assert body["scope"] == "openid api"
    info = _introspected(tenant_a, body["access_token"])
    assert info["sub"] == str(user.pk) and info["client_id"] == web.client_id
    assert exchanged(tenant_a, web, id_token, ID_TOKEN, scope="api")["scope"] == "api"
    wider = exchange(tenant_a, web, id_token, ID_TOKEN, scope="api read")
    assert_error(wider, 400, "invalid_scope")
    # Another client holding it, the wrong declared type, another tenant: refused.
    other = make_exchanger(tenant_a)
    assert_error(exchange(tenant_a, other, id_token, ID_TOKEN), 400, "invalid_grant")
    assert_error(exchange(tenant_a, web, id_token, ACCESS), 400, "invalid_grant")
    assert_error(exchange(tenant_a, web, tokens["access_token"], ID_TOKEN), 400, "invalid_grant")
    # One that has expired, or names another issuer, though signed with this tenant's key.
    for age, issuer in ((7200, tenant_a.issuer), (0, "https://elsewhere.example.com")):
        forged = _signed_id_token(tenant_a, web, user, issuer=issuer, age=age)
        assert_error(exchange(tenant_a, web, forged, ID_TOKEN), 400, "invalid_grant")
    web_b, _, tokens_b = _user_token(tenant_b, scope="openid api", grant_types=grants)
    assert_error(exchange(tenant_a, web, tokens_b["id_token"], ID_TOKEN), 400, "invalid_grant")
    assert exchange(tenant_b, web_b, tokens_b["id_token"], ID_TOKEN).status_code == 200


def _signed_id_token(tenant, web, user, *, issuer: str, age: int) -> str:
    """An id_token of ``user`` for ``web`` issued ``age`` seconds ago, signed by ``tenant``."""
    import time

    from oauth.models import Client
    from oauth.oidc.tokens import id_token_claims
    from oauth.signing.jws import sign_jwt

    with tenant.context():
        client = Client.objects.get(client_id=web.client_id)
        claims = id_token_claims(
            issuer=issuer, client=client, user=user, auth_time=0, now=int(time.time()) - age
        )
        return remember_secret(sign_jwt(claims))


def test_revoking_the_users_grant_revokes_what_was_exchanged_from_it(tenant_a):
    web, _, tokens = _user_token(tenant_a)
    service = make_exchanger(tenant_a)
    hop1 = exchanged(tenant_a, service, tokens["access_token"])
    hop2 = exchanged(tenant_a, service, hop1["access_token"])
    assert _introspected(tenant_a, hop2["access_token"])["active"] is True
    # RFC 7009 §2.1: revoking the refresh token revokes the grant, exchanged tokens included.
    assert revoke(tenant_a, web, tokens["refresh_token"]).status_code == 200
    for body in (hop1, hop2):
        assert _introspected(tenant_a, body["access_token"]) == {"active": False}
    assert_error(exchange(tenant_a, service, hop1["access_token"]), 400, "invalid_grant")


def test_malformed_exchanges_are_invalid_request(tenant_a):
    _, _, tokens = _user_token(tenant_a)
    subject = tokens["access_token"]
    service = make_exchanger(tenant_a)
    own = client_credentials_token(tenant_a, service)["access_token"]
    for value, subject_type, params in (
        (subject, None, {}),  # subject_token_type missing
        (None, ACCESS, {}),  # subject_token missing
        (subject, REFRESH, {}),  # refresh tokens are not accepted
        (subject, "urn:ietf:params:oauth:token-type:saml2", {}),
        (subject, ACCESS, {"requested_token_type": ID_TOKEN}),
        (subject, ACCESS, {"requested_token_type": REFRESH}),
        (subject, ACCESS, {"actor_token": own}),  # actor_token_type missing
        (subject, ACCESS, {"actor_token_type": ACCESS}),  # actor_token missing
    ):
        body = assert_error(
            exchange(tenant_a, service, value, subject_type, **params), 400, "invalid_request"
        )
        assert body["error_description"], params
    explicit = exchange(tenant_a, service, subject, requested_token_type=ACCESS)
    assert explicit.status_code == 200
    assert_error(
        exchange(tenant_a, service, subject, audience=["urn:a", "urn:b"]), 400, "invalid_request"
    )


def test_a_public_client_cannot_be_registered_for_token_exchange(tenant_a):
    from oauth.client_metadata import ClientError, ClientMetadata

    with tenant_a.context(), pytest.raises(ClientError, match="public client"):
        ClientMetadata(
            name="SPA",
            grant_types=["authorization_code", TOKEN_EXCHANGE],
            redirect_uris=["https://spa.example.com/cb"],
            auth_method="none",
        )
    with tenant_a.context(), pytest.raises(ClientError, match="only used with"):
        ClientMetadata(name="Svc", token_exchange_audiences=["https://a.example.com"])
    with tenant_a.context(), pytest.raises(ClientError, match="printable"):
        ClientMetadata(
            name="Svc",
            grant_types=[TOKEN_EXCHANGE],
            token_exchange_audiences=["has space"],
        )


def test_each_exchange_is_audited_without_any_token_value(tenant_a):
    from kernel.audit.models import AuditEvent

    _, user, tokens = _user_token(tenant_a)
    service = make_exchanger(tenant_a)
    own = client_credentials_token(tenant_a, service)["access_token"]
    body = exchanged(
        tenant_a, service, tokens["access_token"], actor_token=own, actor_token_type=ACCESS
    )
    refused = exchange(tenant_a, service, tokens["access_token"], scope="everything")
    assert refused.status_code == 400
    with tenant_a.context():
        events = list(AuditEvent.objects.filter(object_id=service.client_id))
    (event,) = [e for e in events if e.action == "token.exchanged"]
    assert event.object_type == "client" and event.object_label == "Exchanging service"
    assert event.changes == {
        "subject": str(user.pk),
        "subject_type": "access_token",
        "actor": service.client_id,
        "actor_type": "access_token",
        "audience": "",
        "scope": "api read",
    }
    dumped = json.dumps([(e.changes, e.object_label, e.actor_label) for e in events])
    for value in (tokens["access_token"], tokens["refresh_token"], own, body["access_token"]):
        assert value not in dumped
