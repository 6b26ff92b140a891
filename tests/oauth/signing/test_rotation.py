"""Rotation without a gap (OIDC Core §10.1.1): next -> current -> retiring -> retired."""

import base64
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.support import jose
from tests.support.factories import (
    client_credentials_token,
    make_client,
)
from tests.support.jwks import fetch_jwks, kids


def _keys(state: str) -> dict[str, str]:
    from oauth.models import SigningKey

    return dict(SigningKey.objects.filter(state=state).values_list("alg", "kid"))


def _claims(**extra) -> dict:
    return {"sub": "user-1", "exp": int(time.time()) + 600, **extra}


@pytest.mark.django_db
def test_next_key_is_promoted_only_after_jwks_max_age_unless_forced(tenant_a):
    from oauth.models import IssuerSettings, SigningKey
    from oauth.signing.services import rotate

    with tenant_a.context():
        max_age = IssuerSettings.load().jwks_max_age
        published = SigningKey.objects.get(alg="RS256", state="next").published_at
        before = _keys("current"), _keys("next")

        early = rotate(published + timedelta(seconds=max_age - 1))
        assert not early.rotated
        assert "jwks_max_age" in early.reason and "--force" in early.reason
        assert (_keys("current"), _keys("next")) == before

        on_time = rotate(published + timedelta(seconds=max_age))
        assert on_time.rotated and on_time.reason == ""
        assert on_time.current == before[1] and on_time.retiring == before[0]
        assert _keys("current") == before[1] and _keys("retiring") == before[0]
        assert set(_keys("next").values()).isdisjoint(before[1].values())

        just_published = published + timedelta(seconds=max_age + 1)
        assert not rotate(just_published).rotated
        forced = rotate(just_published, force=True)
        assert forced.rotated and forced.reason == "forced"
        assert SigningKey.objects.filter(state="current").count() == 2


@pytest.mark.django_db
def test_retiring_key_outlives_the_longest_token_it_may_have_signed(tenant_a):
    from oauth.models import Client, IssuerSettings
    from oauth.signing.constants import CLOCK_SKEW_LEEWAY
    from oauth.signing.jws import sign_jwt
    from oauth.signing.selectors import jwks_document
    from oauth.signing.services import rotate

    with tenant_a.context():
        IssuerSettings.objects.update(access_token_lifetime=7200)
        Client.objects.create(client_id="long-lived", name="Long", access_token_lifetime=10800)
        now = timezone.now()
        outcome = rotate(now, force=True)
        assert outcome.retire_after == now + timedelta(seconds=10800 + CLOCK_SKEW_LEEWAY)

        old = set(outcome.retiring.values())
        assert old <= kids(jwks_document(outcome.retire_after - timedelta(seconds=1)))
        assert old.isdisjoint(kids(jwks_document(outcome.retire_after)))

        with pytest.raises(ValueError, match="longest token lifetime"):
            sign_jwt({"exp": int(time.time()) + 10800 + 60})
        with pytest.raises(ValueError, match="exp"):
            sign_jwt({"sub": "no-expiry"})


@pytest.mark.django_db
def test_rotate_if_due_rotates_only_when_the_current_key_is_old_enough(tenant_a):
    from oauth.models import IssuerSettings, SigningKey
    from oauth.signing.services import rotate_if_due

    with tenant_a.context():
        days = IssuerSettings.load().signing_key_rotation_days
        activated = SigningKey.objects.get(alg="RS256", state="current").activated_at
        due = activated + timedelta(days=days)

        not_yet = rotate_if_due(due - timedelta(seconds=1))
        assert not not_yet.rotated and "not due" in not_yet.reason
        IssuerSettings.objects.update(signing_key_rotation_days=0)
        assert not rotate_if_due(due + timedelta(days=365)).rotated
        IssuerSettings.objects.update(signing_key_rotation_days=days)

        rotated = rotate_if_due(due)
        assert rotated.rotated and set(rotated.current.values()) == set(not_yet.next.values())
        assert not rotate_if_due(due + timedelta(seconds=60)).rotated  # the new key is young

        # The retiring keys leave when their time is up, on the next periodic run.
        assert rotate_if_due(rotated.retire_after - timedelta(seconds=1)).retired == []
        later = rotate_if_due(rotated.retire_after)
        assert sorted(later.retired) == sorted(rotated.retiring.values())
        gone = SigningKey.objects.filter(kid__in=later.retired)
        assert {(k.state, k.private_key) for k in gone} == {("retired", "")}


@pytest.mark.live
def test_rotation_mid_session_keeps_old_tokens_valid_and_new_kid_was_published(
    gatehouse_server, rotation_tenant, publish_next_keys_earlier, commit
):
    from oauth.models import SigningKey
    from oauth.signing.jws import sign_jwt
    from oauth.signing.services import rotate, rotate_if_due

    cached_jwks = fetch_jwks(gatehouse_server, rotation_tenant)  # what an RP holds
    with commit(rotation_tenant):
        old_tokens = {alg: sign_jwt(_claims(), alg=alg) for alg in ("RS256", "ES256")}
    publish_next_keys_earlier(rotation_tenant, 3600)
    with commit(rotation_tenant):
        outcome = rotate()
        new_tokens = {alg: sign_jwt(_claims(), alg=alg) for alg in ("RS256", "ES256")}
    assert outcome.rotated

    fresh_jwks = fetch_jwks(gatehouse_server, rotation_tenant)
    assert set(outcome.retiring.values()) <= kids(fresh_jwks)  # old keys still published
    for alg, token in old_tokens.items():
        verified = jose.verify(token, fresh_jwks, [alg])
        assert verified.header["kid"] == outcome.retiring[alg]
    for alg, token in new_tokens.items():
        # The new kid was already in the JWKS the relying party cached before the rotation.
        verified = jose.verify(token, cached_jwks, [alg])
        assert verified.header["kid"] == outcome.current[alg] != outcome.retiring[alg]
        assert verified.header["kid"] in kids(cached_jwks)

    # Once retire_after has passed, the retiring keys leave JWKS (even before a sweep).
    with commit(rotation_tenant):
        SigningKey.objects.filter(state="retiring").update(
            retire_after=timezone.now() - timedelta(seconds=1)
        )
    after = fetch_jwks(gatehouse_server, rotation_tenant)
    assert kids(after).isdisjoint(outcome.retiring.values())
    for alg, token in old_tokens.items():
        with pytest.raises(jose.VerificationFailed):
            jose.verify(token, after, [alg])
    with commit(rotation_tenant):
        assert sorted(rotate_if_due().retired) == sorted(outcome.retiring.values())


@pytest.mark.live
def test_concurrent_rotations_leave_exactly_one_current_key_per_alg(
    rotation_tenant, publish_next_keys_earlier, django_db_blocker
):
    from django_tenants.utils import schema_context

    from oauth.models import SigningKey
    from oauth.signing.services import rotate

    publish_next_keys_earlier(rotation_tenant, 3600)
    barrier, outcomes, errors = threading.Barrier(2), [], []

    def rotate_in_thread():
        try:
            barrier.wait(5)
            with schema_context(rotation_tenant.schema):
                outcomes.append(rotate())
        except Exception as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)
        finally:
            connection.close()

    with django_db_blocker.unblock():
        threads = [threading.Thread(target=rotate_in_thread) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        assert sorted(o.rotated for o in outcomes) == [False, True]
        with schema_context(rotation_tenant.schema):
            states = list(SigningKey.objects.values_list("alg", "state"))
        connection.set_schema_to_public()
    for alg in ("RS256", "ES256"):
        assert states.count((alg, "current")) == 1
        assert states.count((alg, "next")) == 1
        assert states.count((alg, "retiring")) == 1


@pytest.mark.django_db
def test_lowering_a_lifetime_then_rotating_keeps_the_key_while_its_tokens_live(tenant_a):
    from oauth.services.issuer import issuer_settings_update
    from oauth.signing.jws import JWTVerificationError, verify_jwt
    from oauth.signing.selectors import jwks_document
    from oauth.signing.services import rotate

    with tenant_a.context():
        issuer_settings_update(access_token_lifetime=86400)  # JWT access tokens live a day
    service = make_client(tenant_a, access_token_format="jwt", scopes=["api"])
    token = client_credentials_token(tenant_a, service, scope="api")["access_token"]
    with tenant_a.context():
        exp = verify_jwt(token)["exp"]
        issuer_settings_update(access_token_lifetime=3600)  # operator shortens the lifetime
        rotate(timezone.now(), force=True)
        header_kid = __import__("json").loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))[
            "kid"
        ]
        # One minute before the token expires it must still verify against the published JWKS.
        before_exp = datetime.fromtimestamp(exp - 60, tz=UTC)
        assert header_kid in kids(jwks_document(before_exp)), (
            "the key that signed an unexpired token has left JWKS"
        )
        try:
            verify_jwt(token, now=before_exp)
        except JWTVerificationError as error:
            pytest.fail(f"unexpired token no longer verifies: {error}")


@pytest.mark.django_db
def test_lowering_jwks_max_age_does_not_promote_a_key_cached_jwks_never_held(tenant_a):
    from oauth.models import SigningKey
    from oauth.services.issuer import issuer_settings_update
    from oauth.signing.services import rotate

    with tenant_a.context():
        issuer_settings_update(jwks_max_age=86400)
        # An RP fetches JWKS now and may cache it for a day (what the header promised).
        served = tenant_a.client().get("/oauth/jwks", secure=True)
        assert served["Cache-Control"] == "public, max-age=86400"
        cached_kids = kids(served.json())
        t0 = timezone.now()
        # Rotation 1 (on time for the provisioning keys) makes a brand-new next key.
        SigningKey.objects.filter(state="next").update(published_at=t0 - timedelta(days=2))
        first = rotate(t0)
        assert first.rotated
        new_next = set(first.next.values())
        assert new_next.isdisjoint(cached_kids)  # the RP's cached copy lacks it until t0+1d
        # The operator lowers the max-age to one hour.
        issuer_settings_update(jwks_max_age=3600)
        second = rotate(t0 + timedelta(seconds=3601))
        # The RP's cache (fetched at t0, max-age 86400) is still fresh at t0+3601 s and does not
        # hold the key that now signs: the promotion must wait for the promised max-age.
        assert not second.rotated, "next key promoted while RPs may still cache a JWKS without it"


@pytest.mark.django_db
def test_a_lifetime_cut_in_another_process_does_not_break_jwt_token_requests(tenant_a):
    from oauth.models import IssuerSettings
    from oauth.selectors import issuer_policy

    service = make_client(tenant_a, access_token_format="jwt", scopes=["api"])
    with tenant_a.context():
        IssuerSettings.objects.update(access_token_lifetime=7200)
        issuer_policy(fresh=True)  # this process caches 7200 for 5 s
        # Another process (no post_save signal here) lowers the lifetime.
        IssuerSettings.objects.update(access_token_lifetime=3600)
    web = tenant_a.client(raise_request_exception=False)
    from tests.support.factories import post_form

    response = post_form(
        web, "/oauth/token", {"grant_type": "client_credentials", "scope": "api"}, **service.basic()
    )
    assert response.status_code == 200, f"token endpoint answered {response.status_code}"
