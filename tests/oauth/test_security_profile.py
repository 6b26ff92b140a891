"""``oauth.security_profile``: the stricter of the tenant's and the client's profile."""

from __future__ import annotations

import pytest

from tests.support.factories import make_client

pytestmark = pytest.mark.django_db


def _row(client):
    from oauth.models import Client

    with client.tenant.context():
        return Client.objects.get(pk=client.pk)


def test_plain_profile_follows_the_client_and_tenant_switches(tenant_a):
    from oauth.models import IssuerSettings
    from oauth.security_profile import requirements

    plain = _row(make_client(tenant_a))
    strict = _row(
        make_client(
            tenant_a, require_pushed_authorization_requests=True, dpop_bound_access_tokens=True
        )
    )
    with tenant_a.context():
        assert requirements(plain).par_required is False
        assert requirements(plain).dpop_required is False
        assert "RS256" in requirements(plain).signing_algs
        assert requirements(strict).par_required and requirements(strict).dpop_required
        IssuerSettings.objects.update_or_create(
            pk=IssuerSettings.load().pk, defaults={"require_pushed_authorization_requests": True}
        )
        from oauth.selectors import clear_issuer_policy_cache

        clear_issuer_policy_cache()
        assert requirements(plain).par_required is True


def test_fapi2_from_the_client_or_the_tenant_and_never_loosened(tenant_a, tenant_b):
    # FAPI 2.0 clients authenticate with private_key_jwt (ClientMetadata refuses others).
    from joserfc.jwk import ECKey

    from oauth.models import IssuerSettings
    from oauth.security_profile import FAPI2, requirements
    from oauth.selectors import clear_issuer_policy_cache

    keys = {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}
    fapi_client = _row(
        make_client(tenant_a, security_profile=FAPI2, auth_method="private_key_jwt", jwks=keys)
    )
    plain = _row(make_client(tenant_a))
    with tenant_a.context():
        needs = requirements(fapi_client)
        assert needs.fapi2 and needs.par_required and needs.dpop_required
        assert needs.auth_methods == ("private_key_jwt",)
        assert "RS256" not in needs.signing_algs and "PS256" in needs.signing_algs
        assert needs.max_code_lifetime == 60 and needs.response_types == ("code",)
        assert not requirements(plain).fapi2
        row = IssuerSettings.load()
        row.security_profile = FAPI2
        row.save()
        clear_issuer_policy_cache()
        assert requirements(plain).fapi2
    # The other tenant is untouched.
    with tenant_b.context():
        clear_issuer_policy_cache()
        assert not requirements(_row(make_client(tenant_b))).fapi2


def test_fapi2_tenant_refuses_public_clients_wherever_a_client_authenticates(tenant_a, tenant_b):
    """FAPI 2.0 §5.3.2.1: confidential clients only. There is no separate flag for it:
    ``Requirements.auth_methods`` (``private_key_jwt`` only) refuses ``none`` at each
    endpoint a public client would use, 401 ``invalid_client`` (RFC 6749 §5.2): the token
    endpoint, the PAR endpoint (RFC 9126 §2.3), the device authorization endpoint (RFC 8628
    §3.2) and revocation (RFC 7009 §2.1). Before the switch the same client is served."""
    from oauth.models import IssuerSettings
    from oauth.selectors import clear_issuer_policy_cache
    from tests.oauth.device.helpers import make_device_client, start, started
    from tests.support.factories import assert_error, pkce_pair, post_form

    public = make_device_client(tenant_a)  # registered before the switch
    assert started(tenant_a, public)["device_code"]  # a plain tenant serves it
    with tenant_a.context():
        IssuerSettings.objects.update(security_profile="fapi2")
    clear_issuer_policy_cache()
    web = tenant_a.client()
    by_id = {"client_id": public.client_id}
    answers = {
        "device_authorization": start(tenant_a, public),
        "token": post_form(web, "/oauth/token", {"grant_type": "urn:ietf:params:oauth:"
                           "grant-type:device_code", "device_code": "x" * 43, **by_id}),
        "par": post_form(web, "/oauth/par", {"response_type": "code", "scope": "openid",
                         "code_challenge": pkce_pair()[1], "code_challenge_method": "S256",
                         "redirect_uri": "https://app.example.com/callback", **by_id}),
        "revocation": post_form(web, "/oauth/revoke", {"token": "x" * 43, **by_id}),
    }  # fmt: skip
    for endpoint, response in answers.items():
        body = assert_error(response, 401, "invalid_client")
        assert "private_key_jwt, not none" in body["error_description"], endpoint
    # The other tenant still serves its public clients.
    assert started(tenant_b, make_device_client(tenant_b))["device_code"]
