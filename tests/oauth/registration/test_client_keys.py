"""A client's keys (``oauth.client_keys``): inline ``jwks`` and fetched ``jwks_uri``, the
refetch on an unknown ``kid`` (bounded), public keys only, and alg allow-lists."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from tests.support.factories import make_client

pytestmark = pytest.mark.django_db


def _signed(key, alg: str = "ES256", **claims) -> str:
    header = {"alg": alg}
    if key.kid:
        header["kid"] = key.kid
    return jwt.encode(header, {"iss": "me", **claims}, key)


def _public_set(*keys) -> dict:
    return {"keys": [key.as_dict(private=False) for key in keys]}


@pytest.fixture
def ec_key():
    return ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


def _client_row(client):
    from oauth.models import Client

    with client.tenant.context():
        return Client.objects.get(pk=client.pk)


def test_an_inline_set_verifies_and_an_alg_outside_the_list_is_refused(tenant_a, ec_key):
    from oauth.client_keys import ClientKeysError, verify_client_jwt

    client = make_client(tenant_a, jwks=_public_set(ec_key))
    row = _client_row(client)
    with tenant_a.context():
        token = verify_client_jwt(row, _signed(ec_key), algorithms=["ES256"])
        assert token.claims["iss"] == "me"
        with pytest.raises(ClientKeysError, match="allowed here: PS256"):
            verify_client_jwt(row, _signed(ec_key), algorithms=["PS256"])
        other = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
        with pytest.raises(ClientKeysError, match="does not verify"):
            verify_client_jwt(row, _signed(other), algorithms=["ES256"])
        with pytest.raises(ClientKeysError, match="kid 'nope'"):
            verify_client_jwt(
                row,
                _signed(ECKey.generate_key("P-256", parameters={"kid": "nope"})),
                algorithms=["ES256"],
            )


def test_without_kid_each_key_is_tried(tenant_a):
    from oauth.client_keys import verify_client_jwt

    first = RSAKey.generate_key(2048, parameters={"kid": "r1"})
    second = ECKey.generate_key("P-256", parameters={"kid": "e1"})
    client = make_client(tenant_a, jwks=_public_set(first, second))
    value = jwt.encode({"alg": "ES256"}, {"iss": "me"}, second)
    assert "kid" not in jwt.decode(value, second).header
    with tenant_a.context():
        assert verify_client_jwt(_client_row(client), value, algorithms=["ES256"])


@pytest.mark.parametrize(
    ("jwks", "words"),
    [
        ({"keys": []}, "non-empty"),
        ([], "non-empty"),
        ({"keys": ["x"]}, "JWK object"),
        ({"keys": [{"kty": "RSA", "n": "AQAB"}]}, "cannot be read"),
    ],
)
def test_bad_sets_are_refused_at_registration(tenant_a, jwks, words):
    from oauth.client_metadata import ClientError

    with pytest.raises(ClientError, match=words):
        make_client(tenant_a, jwks=jwks)


def test_private_and_symmetric_keys_are_refused(tenant_a, ec_key):
    from oauth.client_metadata import ClientError

    with pytest.raises(ClientError, match="public keys only"):
        make_client(tenant_a, jwks={"keys": [ec_key.as_dict(private=True)]})
    with pytest.raises(ClientError, match="public keys only"):
        make_client(tenant_a, jwks={"keys": [OctKey.generate_key(256).as_dict()]})
    with pytest.raises(ClientError, match="not both"):
        make_client(tenant_a, jwks=_public_set(ec_key), jwks_uri="https://keys.example/jwks")
    with pytest.raises(ClientError, match="https"):
        make_client(tenant_a, jwks_uri="http://keys.example/jwks")


def test_jwks_uri_is_fetched_once_and_refetched_for_a_new_kid_at_most_once(
    tenant_a, docserver, fetch_settings, ec_key
):
    from oauth.client_keys import ClientKeysError, verify_client_jwt

    path = docserver.new_path("jwks.json")
    url = docserver.serve_json(path, _public_set(ec_key), **{"Cache-Control": "max-age=300"})
    client = make_client(tenant_a, jwks_uri=url)
    row = _client_row(client)
    with tenant_a.context():
        verify_client_jwt(row, _signed(ec_key), algorithms=["ES256"])
        verify_client_jwt(row, _signed(ec_key), algorithms=["ES256"])
        assert docserver.hits[path] == 1
        # The client rotates: a new kid is published; the cached set lacks it.
        rotated = ECKey.generate_key("P-256", parameters={"kid": "ec-2"})
        docserver.serve_json(path, _public_set(ec_key, rotated))
        verify_client_jwt(row, _signed(rotated), algorithms=["ES256"])
        assert docserver.hits[path] == 2
        # Random kids do not make us fetch again within the refresh interval.
        for n in range(3):
            stranger = ECKey.generate_key("P-256", parameters={"kid": f"x{n}"})
            with pytest.raises(ClientKeysError, match="kid"):
                verify_client_jwt(row, _signed(stranger), algorithms=["ES256"])
        assert docserver.hits[path] == 2


def test_the_refresh_allowance_is_per_tenant(tenant_a, tenant_b, docserver, fetch_settings, ec_key):
    """The same client pk in two tenants: using up A's refetch leaves B's."""
    from oauth.client_keys import _may_refresh

    a = _client_row(make_client(tenant_a))
    b = _client_row(make_client(tenant_b))
    b.pk = a.pk
    with tenant_a.context():
        assert _may_refresh(a) is True
        assert _may_refresh(a) is False
    with tenant_b.context():
        assert _may_refresh(b) is True
