"""The tenant's MFA policy at sign-in; amr/acr in id_tokens (RFC 8176, OIDC Core §2);
acr_values step-up, max_age and prompt=none (OIDC Core §3.1.2.1, §3.1.2.6); discovery."""

import re
import time

import pyotp
import pytest

from tests.oauth.mfa.conftest import (
    audit_actions,
    decode_id_token,
    enrol_totp,
    next_code,
    password_login,
    second_factor,
    session_of,
)
from tests.support.factories import (
    authorize_params,
    exchange_code,
    make_user,
    make_web_client,
    pkce_pair,
    post_form,
    query_of,
    remember_tokens,
)
from tests.support.secrets import remember_secret

pytestmark = pytest.mark.django_db

MFA_ACR = "urn:gatehouse:acr:mfa"
SCOPES = ["openid", "profile", "api"]
_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')


def _make_admin(tenant):
    user = make_user(tenant)
    with tenant.context():
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


def _authorize(web, params):
    return web.get("/oauth/authorize", params, secure=True)


def _code_flow(tenant, web, client, **extra) -> dict:
    """From /oauth/authorize (signed in) to the id_token's claims, consenting if asked."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, scope="openid", **extra)
    response = _authorize(web, params)
    if response.status_code == 200:
        response = post_form(web, "/oauth/consent", {**params, "decision": "allow"})
    assert response.status_code == 302, response.content
    code = remember_secret(query_of(response["Location"])["code"])
    body = remember_tokens(exchange_code(tenant, client, code, verifier).json())
    return decode_id_token(tenant, body["id_token"])


def test_policy_admins_sends_an_admin_without_a_factor_to_enrolment(tenant, mfa_policy):
    mfa_policy(tenant, "admins")
    admin, someone = _make_admin(tenant), make_user(tenant)
    assert password_login(tenant.client(), someone)["Location"] == "/"  # not an admin

    web = tenant.client()
    response = password_login(web, admin, "/console/")
    assert response.status_code == 302 and response["Location"] == "/account/mfa/totp/add"
    assert "_auth_user_id" not in session_of(tenant, web)
    assert web.get("/console/")["Location"].startswith("/oauth/login")  # not signed in
    page = web.get("/account/mfa/totp/add")
    assert page.status_code == 200 and b"requires a second factor" in page.content
    secret = remember_secret(_SECRET.search(page.content.decode()).group(1).replace(" ", ""))
    done = post_form(web, "/account/mfa/totp/add", {"code": pyotp.TOTP(secret).now()})
    assert done["Location"] == "/account/mfa/recovery-codes"
    codes_page = web.get("/account/mfa/recovery-codes").content.decode()
    assert 'href="/console/"' in codes_page  # then on to where the admin was going
    session = session_of(tenant, web)
    assert session["_auth_user_id"] == str(admin.pk)
    assert session["gatehouse_amr"] == ["pwd", "otp", "mfa"]
    assert web.get("/console/").status_code == 200
    actions = [action for action, _ in audit_actions(tenant, admin)]
    assert {"mfa.enrolled", "user.signed_in", "admin.signed_in"} <= set(actions)


def test_policy_everyone_and_off(tenant, mfa_policy):
    user = make_user(tenant)
    mfa_policy(tenant, "everyone")
    assert password_login(tenant.client(), user)["Location"] == "/account/mfa/totp/add"
    secret, _ = enrol_totp(tenant, user)
    mfa_policy(tenant, "off")  # off: no second step, even for a user with a factor
    web = tenant.client()
    assert password_login(web, user)["Location"] == "/"
    assert session_of(tenant, web)["gatehouse_amr"] == ["pwd"]
    mfa_policy(tenant, "optional")
    assert password_login(tenant.client(), user)["Location"] == "/account/mfa/challenge"
    assert secret


def test_id_tokens_carry_amr_and_acr(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    plain, strong = make_user(tenant), make_user(tenant)
    web = tenant.client()
    password_login(web, plain)
    claims = _code_flow(tenant, web, client)
    assert claims["amr"] == ["pwd"] and claims["acr"] == "urn:gatehouse:acr:pwd"

    secret, _ = enrol_totp(tenant, strong)
    web = tenant.client()
    password_login(web, strong)
    second_factor(web, next_code(secret))
    claims = _code_flow(tenant, web, client)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == MFA_ACR


def test_acr_values_forces_a_second_factor_on_a_password_session(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    user = make_user(tenant)
    web = tenant.client()
    password_login(web, user)  # no factor yet: signed in with the password alone
    secret, _ = enrol_totp(tenant, user)  # then enrolled one
    assert _code_flow(tenant, web, client)["acr"] == "urn:gatehouse:acr:pwd"

    params = authorize_params(client, pkce_pair()[1], scope="openid", acr_values=MFA_ACR)
    step_up = _authorize(web, params)
    assert step_up.status_code == 302 and step_up["Location"] == "/account/mfa/challenge"
    back = second_factor(web, next_code(secret))
    assert back.status_code == 302 and back["Location"].startswith("/oauth/authorize?")
    assert query_of(back["Location"])["acr_values"] == MFA_ACR
    claims = _code_flow(tenant, web, client, acr_values=MFA_ACR)
    assert claims["acr"] == MFA_ACR and claims["amr"] == ["pwd", "otp", "mfa"]


def test_acr_values_without_a_factor_sends_the_user_to_enrolment(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    user = make_user(tenant)
    web = tenant.client()
    password_login(web, user)
    params = authorize_params(client, pkce_pair()[1], scope="openid", acr_values=MFA_ACR)
    assert _authorize(web, params)["Location"] == "/account/mfa/totp/add"


def test_acr_values_naming_only_single_factor_asks_nothing_more(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    user = make_user(tenant)
    web = tenant.client()
    password_login(web, user)
    claims = _code_flow(tenant, web, client, acr_values="urn:gatehouse:acr:pwd " + MFA_ACR)
    assert claims["acr"] == "urn:gatehouse:acr:pwd"


def test_prompt_none_answers_interaction_required_when_a_second_factor_is_needed(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    user = make_user(tenant)
    web = tenant.client()
    password_login(web, user)
    _code_flow(tenant, web, client)  # consent remembered
    params = authorize_params(
        client, pkce_pair()[1], scope="openid", acr_values=MFA_ACR, prompt="none"
    )
    answer = _authorize(web, params)
    assert answer.status_code == 302
    query = query_of(answer["Location"])
    assert answer["Location"].startswith(client.redirect_uris[0])
    assert query["error"] == "interaction_required" and query["state"] == params["state"]
    assert query["iss"] == tenant.issuer


def test_max_age_forces_a_fresh_sign_in_with_the_second_factor(tenant):
    client = make_web_client(tenant, scopes=SCOPES)
    user = make_user(tenant)
    web = tenant.client()
    password_login(web, user)  # signed in before the user had a factor
    secret, _ = enrol_totp(tenant, user)
    first = _code_flow(tenant, web, client, max_age="600")
    with tenant.context():
        session = web.session
        session["gatehouse_auth_time"] = int(time.time()) - 601
        session.save()
    params = authorize_params(client, pkce_pair()[1], scope="openid", max_age="600")
    again = _authorize(web, params)
    assert again.status_code == 302 and again["Location"].startswith("/oauth/login?")
    none = _authorize(web, {**params, "prompt": "none"})
    assert query_of(none["Location"])["error"] == "login_required"
    next_url = query_of(again["Location"])["next"]
    assert password_login(web, user, next_url)["Location"] == "/account/mfa/challenge"
    assert second_factor(web, next_code(secret))["Location"] == next_url
    fresh = _code_flow(tenant, web, client, max_age="600")
    assert fresh["auth_time"] > int(time.time()) - 60  # not the stale session's time
    assert first["amr"] == ["pwd"]
    assert fresh["acr"] == MFA_ACR


def test_discovery_lists_the_acr_values(tenant):
    metadata = tenant.client().get("/.well-known/openid-configuration").json()
    assert metadata["acr_values_supported"] == [MFA_ACR, "urn:gatehouse:acr:pwd"]
    assert {"acr", "amr"} <= set(metadata["claims_supported"])
