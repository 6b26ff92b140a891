"""No malformed request to the token, revocation or introspection endpoint gives a 500:
each gets a clean RFC 6749 §5.2 answer with Cache-Control: no-store."""

import base64
import json

import pytest

from tests.support.factories import FORM, assert_error, make_client

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/oauth/token", "/oauth/revoke", "/oauth/introspect"]


@pytest.fixture
def client(tenant_a):
    return make_client(tenant_a, can_introspect=True)


def send(tenant, path, body, *, content_type=FORM, **extra):
    return tenant.client().generic(
        "POST", path, body, content_type=content_type, secure=True, **extra
    )


def base_body(path):
    return b"grant_type=client_credentials" if path == "/oauth/token" else b"token=abc"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        f"Basic {_b64(b'no-colon-here')}",
        f"Basic {_b64(b'\xff\xfe:\xff')}",
        f"Basic {_b64(b':secret-only')}",
        f"Basic {_b64(b'client-only:')}",
        "Basic",
        "Bearer some-token",
        "Basic " + "A" * 100_000,
        f"Basic {_b64(b'cl%00ient:secret')}",
        f"Basic {_b64(b'cl\x00ient:secret')}",
    ],
    ids=[
        "bad-base64",
        "no-colon",
        "non-utf8",
        "empty-id",
        "empty-secret",
        "empty",
        "bearer",
        "huge",
        "percent-nul",
        "raw-nul",
    ],
)
def test_bad_basic_header_is_401_invalid_client(tenant_a, path, header):
    response = send(tenant_a, path, base_body(path), HTTP_AUTHORIZATION=header)
    assert_error(response, 401, "invalid_client")
    assert response["WWW-Authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "body,content_type",
    [
        (b"grant_type=client_credentials&grant_type=client_credentials&token=a", FORM),
        (b"token=a&token=b&grant_type=client_credentials", FORM),
        (b"grant_type=client_credentials&token=abc&scope=a&scope=b", FORM),
        (
            json.dumps({"grant_type": "client_credentials", "token": "a"}).encode(),
            "application/json",
        ),
        (b"grant_type=client_credentials&token=a", "text/plain"),
        (b"grant_type=client_credentials&token=a", "multipart/form-data; boundary=x"),
        (b"grant_type=client_credentials&token=a", f"{FORM}; charset=latin-1"),
        (b"grant_type=client_credentials&token=" + b"v" * 100_000, FORM),
        (b"grant_type=client_credentials&token=%ff%fe", FORM),
        (b"grant_type=client_credentials&token=\xff\xfe", FORM),
        (b"&".join(b"p%d=1" % i for i in range(200)), FORM),
        (b"grant_type=client_credentials&token=a&client_id=%00x", FORM),
        (b"grant_type=client_credentials&token=a&" + b"x" * 2_000_000, FORM),
    ],
    ids=[
        "repeated-grant_type",
        "repeated-token",
        "repeated-scope",
        "json",
        "text-plain",
        "multipart",
        "latin-1",
        "100kb-value",
        "bad-utf8-percent",
        "raw-non-utf8",
        "too-many-params",
        "nul-byte",
        "2mb-body",
    ],
)
def test_malformed_body_is_400_invalid_request(tenant_a, client, path, body, content_type):
    response = send(tenant_a, path, body, content_type=content_type, **client.basic())
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405_json(tenant_a, path, method):
    response = tenant_a.client().generic(method, path, secure=True)
    assert_error(response, 405, "invalid_request")
    assert response["Allow"] == "POST, OPTIONS"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_missing_required_parameters(tenant_a, client, path):
    response = send(tenant_a, path, b"", **client.basic())
    assert_error(response, 400, "invalid_request")
    response = send(tenant_a, path, b"", content_type="", **client.basic())
    assert_error(response, 400, "invalid_request")


def test_token_endpoint_missing_grant_params(tenant_a, client):
    for body in (b"grant_type=authorization_code", b"grant_type=refresh_token"):
        response = send(tenant_a, "/oauth/token", body, **client.basic())
        assert response.status_code in (400, 401)
        assert response.json()["error"] in ("invalid_request", "unauthorized_client")


@pytest.mark.parametrize("path", ENDPOINTS)
def test_plain_http_is_a_clean_error_not_a_500(tenant_a, path, monkeypatch):
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    response = tenant_a.client().post(path, base_body(path), content_type=FORM, secure=False)
    body = assert_error(response, 400, "invalid_request")
    assert "https" in body["error_description"]


def test_query_string_credentials_are_ignored(tenant_a, client):
    response = tenant_a.client().post(
        f"/oauth/token?client_id={client.client_id}&client_secret=x",
        b"grant_type=client_credentials",
        content_type=FORM,
        secure=True,
    )
    assert_error(response, 401, "invalid_client")
