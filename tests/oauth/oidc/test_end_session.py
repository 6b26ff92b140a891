"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at /oauth/logout."""

import base64
import re
import time

import pytest

from tests.support.factories import (
    make_user,
    make_web_client,
    post_form,
    query_of,
)
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

LOGGED_OUT = "https://app.example.com/logged-out"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def _client(tenant):
    from oauth.models import Client

    registered = make_web_client(tenant, scopes=["openid"], post_logout_redirect_uris=[LOGGED_OUT])
    with tenant.context():
        return Client.objects.get(pk=registered.pk)


def _id_token(tenant, client, user, *, exp_offset: int | None = None) -> str:
    from oauth.oidc.tokens import build_id_token, id_token_claims
    from oauth.signing.jws import sign_jwt

    with tenant.context():
        if exp_offset is None:
            token = build_id_token(
                issuer=tenant.issuer, client=client, user=user, auth_time=int(time.time())
            )
        else:
            claims = id_token_claims(
                issuer=tenant.issuer, client=client, user=user, auth_time=int(time.time())
            )
            claims["exp"] = int(time.time()) + exp_offset
            token = sign_jwt(claims)
    return remember_secret(token)


def _browser(tenant, user=None):
    web = tenant.client(enforce_csrf_checks=True)
    if user is not None:
        with tenant.context():
            web.force_login(user)
    return web


def _signed_in(tenant, web) -> bool:
    from django.contrib.sessions.backends.db import SessionStore

    key = web.cookies.get("sessionid")
    if key is None or not key.value:
        return False
    with tenant.context():
        return "_auth_user_id" in SessionStore(session_key=key.value).load()


def _logout(web, **params):
    return web.get("/oauth/logout", params, secure=True)


def test_valid_hint_and_registered_uri_sign_out_and_redirect_with_state(tenant):
    client, user = _client(tenant), make_user(tenant)
    web = _browser(tenant, user)
    hint = _id_token(tenant, client, user)
    assert _signed_in(tenant, web)
    response = _logout(web, id_token_hint=hint, post_logout_redirect_uri=LOGGED_OUT, state="s1")
    assert response.status_code == 302
    assert response["Location"] == f"{LOGGED_OUT}?state=s1"
    assert not _signed_in(tenant, web)


def test_post_from_the_relying_party_works_too(tenant):
    client, user = _client(tenant), make_user(tenant)
    web = _browser(tenant, user)
    params = {
        "id_token_hint": _id_token(tenant, client, user),
        "post_logout_redirect_uri": LOGGED_OUT,
    }
    response = post_form(web, "/oauth/logout", params)
    assert response.status_code == 302 and response["Location"] == LOGGED_OUT
    assert not _signed_in(tenant, web)


def test_an_unregistered_uri_is_never_redirected_to(tenant):
    client, user = _client(tenant), make_user(tenant)
    web = _browser(tenant, user)
    for uri in ("https://evil.example.com/", LOGGED_OUT + "/", LOGGED_OUT.upper()):
        response = _logout(
            web, id_token_hint=_id_token(tenant, client, user), post_logout_redirect_uri=uri
        )
        assert response.status_code == 200 and "Location" not in response
        assert b"not registered" in response.content
    assert not _signed_in(tenant, web)  # the valid hint still signed the user out


def test_an_expired_hint_is_still_a_valid_hint(tenant):
    client, user = _client(tenant), make_user(tenant)
    web = _browser(tenant, user)
    expired = _id_token(tenant, client, user, exp_offset=-600)
    response = _logout(web, id_token_hint=expired, post_logout_redirect_uri=LOGGED_OUT)
    assert response.status_code == 302 and response["Location"] == LOGGED_OUT


def test_without_a_hint_the_user_confirms_with_a_csrf_protected_form(tenant):
    client, user = _client(tenant), make_user(tenant)
    web = _browser(tenant, user)
    page = _logout(web, client_id=client.client_id, post_logout_redirect_uri=LOGGED_OUT, state="x")
    assert page.status_code == 200 and "Location" not in page
    assert page["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert _signed_in(tenant, web)  # a bare link signs nobody out
    fields = dict(_HIDDEN.findall(page.content.decode()))
    token = fields.pop("csrfmiddlewaretoken")
    assert fields == {
        "client_id": client.client_id,
        "post_logout_redirect_uri": LOGGED_OUT,
        "state": "x",
    }
    forged = web.post("/oauth/logout/confirm", fields, secure=True, HTTP_ORIGIN=tenant.issuer)
    assert forged.status_code == 403 and _signed_in(tenant, web)

    fields["csrfmiddlewaretoken"] = token
    confirmed = web.post("/oauth/logout/confirm", fields, secure=True, HTTP_ORIGIN=tenant.issuer)
    assert confirmed.status_code == 302
    assert query_of(confirmed["Location"]) == {"state": "x"}
    assert not _signed_in(tenant, web)


def test_a_hint_for_another_user_asks_first(tenant):
    client, user, other = _client(tenant), make_user(tenant), make_user(tenant)
    web = _browser(tenant, user)
    response = _logout(web, id_token_hint=_id_token(tenant, client, other))
    assert response.status_code == 200 and b"Sign out" in response.content
    assert _signed_in(tenant, web)


def test_hints_this_tenant_did_not_issue_are_refused(tenant_a, tenant_b):
    from oauth.oidc.tokens import build_jwt_access_token

    client, user = _client(tenant_a), make_user(tenant_a)
    other_client, other_user = _client(tenant_b), make_user(tenant_b)
    with tenant_a.context():
        access_token, _ = build_jwt_access_token(
            issuer=tenant_a.issuer,
            client=client,
            user=user,
            scope="openid",
            audience=client.client_id,  # even if it named the client, it is no id_token
            expires_in=300,
        )
    remember_secret(access_token)
    hints = [
        _id_token(tenant_b, other_client, other_user),  # another tenant's key
        access_token,  # typ at+jwt
        "not.a.jwt",
    ]
    web = _browser(tenant_a, user)
    for hint in hints:
        response = _logout(web, id_token_hint=hint, post_logout_redirect_uri=LOGGED_OUT)
        assert response.status_code == 200 and "Location" not in response
        assert b"not issued by this sign-in service" in response.content
    assert _signed_in(tenant_a, web)


def test_client_id_must_match_the_hints_audience(tenant):
    client, other, user = _client(tenant), _client(tenant), make_user(tenant)
    web = _browser(tenant, user)
    response = _logout(
        web,
        id_token_hint=_id_token(tenant, client, user),
        client_id=other.client_id,
        post_logout_redirect_uri=LOGGED_OUT,
    )
    assert response.status_code == 200 and "Location" not in response
    assert b"another application" in response.content


def test_nobody_signed_in_still_gets_back_to_the_registered_uri(tenant):
    client, user = _client(tenant), make_user(tenant)
    web = _browser(tenant)
    response = _logout(
        web,
        id_token_hint=_id_token(tenant, client, user),
        post_logout_redirect_uri=LOGGED_OUT,
        state="s",
    )
    assert response.status_code == 302 and response["Location"] == f"{LOGGED_OUT}?state=s"
    done = _logout(web)
    assert done.status_code == 200 and b"signed out" in done.content


def test_other_methods_are_refused(tenant_a):
    assert tenant_a.client().put("/oauth/logout", secure=True).status_code == 405
    assert tenant_a.client().get("/oauth/logout/confirm", secure=True).status_code == 405


def _signed_in_session(tenant, web) -> bool:
    from django.contrib.sessions.backends.db import SessionStore

    key = web.cookies.get("sessionid")
    if key is None or not key.value:
        return False
    with tenant.context():
        return "_auth_user_id" in SessionStore(session_key=key.value).load()


def test_a_malformed_logout_request_never_claims_a_sign_out_it_did_not_do(tenant_a):
    user = make_user(tenant_a)
    web = tenant_a.client()
    with tenant_a.context():
        web.force_login(user)
    response = web.get("/oauth/logout?state=a&state=b", secure=True)
    says_signed_out = b"You are signed out" in response.content
    still_signed_in = _signed_in_session(tenant_a, web)
    assert not (says_signed_out and still_signed_in), (
        f"status {response.status_code}: page tells the user they are signed out, "
        "but the session is still authenticated"
    )


def test_nested_json_in_id_token_hint_is_not_a_500(tenant_a):
    header = base64.urlsafe_b64encode(b"[" * 3000).rstrip(b"=").decode()
    web = tenant_a.client(raise_request_exception=False)
    response = web.get("/oauth/logout", {"id_token_hint": f"{header}.e30.sig"}, secure=True)
    assert response.status_code < 500, f"end_session answered {response.status_code}"
