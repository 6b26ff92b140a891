"""The OpenID Connect options of a client: post-logout redirect URIs (RP-Initiated Logout
§3.1) and the id_token alg (OIDC Registration §2), through ``register_client``."""

import pytest
from django.core.management import CommandError

from tests.support.factories import register_client_cli as register

pytestmark = pytest.mark.django_db


def test_post_logout_uris_and_id_token_alg_are_stored(tenant_a):
    from oauth.models import Client

    result = register(
        "--tenant", tenant_a.slug,
        "--name", "Portal",
        "--redirect-uri", "https://portal.example.com/cb",
        "--scope", "openid",
        "--post-logout-redirect-uri", "https://portal.example.com/bye",
        "--post-logout-redirect-uri", "http://127.0.0.1/bye",
        "--id-token-alg", "ES256",
    )  # fmt: skip
    with tenant_a.context():
        client = Client.objects.get(client_id=result["client_id"])
    assert client.post_logout_redirect_uris == [
        "https://portal.example.com/bye",
        "http://127.0.0.1/bye",
    ]
    assert client.id_token_signed_response_alg == "ES256"


def test_defaults_are_rs256_and_no_post_logout_uri(tenant_a):
    from oauth.models import Client

    result = register(
        "--tenant", tenant_a.slug, "--name", "App", "--redirect-uri", "https://a.example/cb"
    )
    with tenant_a.context():
        client = Client.objects.get(client_id=result["client_id"])
    assert client.id_token_signed_response_alg == "RS256"
    assert client.post_logout_redirect_uris == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--redirect-uri", "https://a.example/cb", "--post-logout-redirect-uri", "http://a.example/"],
         "must be https"),
        (["--redirect-uri", "https://a.example/cb", "--post-logout-redirect-uri", "https://a/#x"],
         "fragment"),
        (["--post-logout-redirect-uri", "https://a.example/bye"], "only used with"),
    ],
    ids=["http", "fragment", "no-code-flow"],
)  # fmt: skip
def test_bad_post_logout_uris_are_refused(tenant_a, args, message):
    with pytest.raises(CommandError, match=message):
        register("--tenant", tenant_a.slug, "--name", "Bad", *args)


def test_an_unsupported_id_token_alg_is_refused(tenant_a):
    from oauth.client_metadata import ClientError, ClientMetadata

    with tenant_a.context(), pytest.raises(ClientError, match="RS256, ES256"):
        ClientMetadata(
            name="HS",
            redirect_uris=["https://a.example/cb"],
            id_token_signed_response_alg="HS256",
        )
    with pytest.raises(CommandError):
        register(
            "--tenant", tenant_a.slug, "--name", "HS", "--redirect-uri", "https://a.example/cb",
            "--id-token-alg", "HS256",
        )  # fmt: skip
