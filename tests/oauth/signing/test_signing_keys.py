"""Keys made at provisioning, per tenant schema, encrypted at rest (MultiFernet)."""

import json
import time

import pytest
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from tests.support.jwks import fernet_key_for

pytestmark = pytest.mark.django_db


def _rows(schema: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT kid, alg, state, private_key, public_jwk FROM "{schema}".oauth_signingkey '
            "ORDER BY id"
        )
        # Django leaves jsonb undecoded on raw cursors.
        return [(*row[:4], json.loads(row[4])) for row in cursor.fetchall()]


def test_provisioning_makes_a_current_and_a_next_key_per_alg_in_the_tenant_schema(
    tenant_a, tenant_b
):
    rows_a, rows_b = _rows(tenant_a.schema), _rows(tenant_b.schema)
    expected = {("RS256", "current"), ("RS256", "next"), ("ES256", "current"), ("ES256", "next")}
    assert sorted((alg, state) for _, alg, state, _, _ in rows_a) == sorted(expected)
    assert sorted((alg, state) for _, alg, state, _, _ in rows_b) == sorted(expected)
    assert {r[0] for r in rows_a}.isdisjoint({r[0] for r in rows_b})
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.oauth_signingkey')")
        assert cursor.fetchone()[0] is None  # no key table outside tenant schemas


def test_private_keys_are_encrypted_at_rest_and_decrypt_with_the_configured_key(tenant_a, settings):
    (configured,) = settings.GATEHOUSE["KEY_ENCRYPTION_KEYS"]
    fernet = Fernet(fernet_key_for(configured))
    for _, alg, _, stored, jwk in _rows(tenant_a.schema):
        assert "PRIVATE KEY" not in stored and "BEGIN" not in stored
        assert stored.startswith("gAAAAA")  # a Fernet token (version byte 0x80)
        pem = fernet.decrypt(stored.encode())
        private = serialization.load_pem_private_key(pem, password=None)
        numbers = private.public_key().public_numbers()
        if alg == "RS256":
            assert private.key_size == 2048 and jwk["kty"] == "RSA"
            assert int.from_bytes(_b64(jwk["n"]), "big") == numbers.n
        else:
            assert private.curve.name == "secp256r1" and jwk["crv"] == "P-256"
            assert int.from_bytes(_b64(jwk["x"]), "big") == numbers.x


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_encryption_key_rotation_old_key_decrypts_and_reencrypt_moves_to_newest(tenant_a, settings):
    from oauth.signing.jws import sign_jwt
    from oauth.signing.services import reencrypt_private_keys

    old = settings.GATEHOUSE["KEY_ENCRYPTION_KEYS"][0]
    new = Fernet.generate_key().decode()
    settings.GATEHOUSE = {**settings.GATEHOUSE, "KEY_ENCRYPTION_KEYS": [new, old]}
    claims = {"sub": "x", "exp": int(time.time()) + 60}
    with tenant_a.context():
        assert sign_jwt(claims, alg="ES256")  # rows encrypted with the old key still work
        assert reencrypt_private_keys() == 4
    for *_, stored, _ in _rows(tenant_a.schema):
        Fernet(fernet_key_for(new)).decrypt(stored.encode())
        with pytest.raises(InvalidToken):
            Fernet(fernet_key_for(old)).decrypt(stored.encode())

    settings.GATEHOUSE = {**settings.GATEHOUSE, "KEY_ENCRYPTION_KEYS": [new]}
    with tenant_a.context():
        assert sign_jwt(claims, alg="RS256")  # the old key can now be dropped


def test_unusable_encryption_keys_are_refused_with_a_clear_error(settings):
    from oauth.checks import check_key_encryption_keys
    from oauth.signing.encryption import encrypt_private_key, key_encryption_errors

    assert key_encryption_errors() == []
    assert check_key_encryption_keys() == []
    weak = "hunter2-password"
    (error,) = key_encryption_errors([Fernet.generate_key().decode(), weak])
    assert "entry 2 of 2" in error and "at least 32" in error and weak not in error

    settings.GATEHOUSE = {**settings.GATEHOUSE, "KEY_ENCRYPTION_KEYS": [weak]}
    (message,) = check_key_encryption_keys()
    assert message.id == "oauth.E001" and weak not in message.msg
    with pytest.raises(ImproperlyConfigured, match="at least 32"):
        encrypt_private_key(b"pem")
    settings.GATEHOUSE = {**settings.GATEHOUSE, "KEY_ENCRYPTION_KEYS": []}
    with pytest.raises(ImproperlyConfigured, match="not set"):
        encrypt_private_key(b"pem")


def test_a_key_encrypted_with_an_unknown_key_fails_clearly(tenant_a, settings):
    from oauth.signing.services import reencrypt_private_keys

    settings.GATEHOUSE = {
        **settings.GATEHOUSE,
        "KEY_ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
    }
    with tenant_a.context(), pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        reencrypt_private_keys()


def test_missing_keys_are_created_by_rotate_if_due(tenant_a):
    """Tenants provisioned before signing keys existed get them from the periodic task."""
    from oauth.models import SigningKey
    from oauth.signing.jws import sign_jwt
    from oauth.signing.services import rotate_if_due

    with tenant_a.context():
        SigningKey.objects.all().delete()
        outcome = rotate_if_due()
        assert not outcome.rotated and len(outcome.created) == 4
        assert SigningKey.objects.filter(state="current").count() == 2
        assert sign_jwt({"exp": int(time.time()) + 60})
