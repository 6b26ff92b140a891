"""Client authentication by assertion: ``private_key_jwt`` and ``client_secret_jwt``
(RFC 7523 §2.2 and §3, OIDC Core §9), registered with Authlib in ``oauth.server``.

Authlib's ``JWTBearerClientAssertion`` (``authlib.oauth2.rfc7523``) is subclassed at its
hooks (``get_audiences``, ``validate_jti``, ``verify_claims``, ``process_assertion_claims``)
and its ``__call__`` is replaced, which corrects three things for our rules:

- it looks the client up by the unverified ``sub`` whatever else the request carries; here
  ``oauth.client_auth.presented_credentials`` first decides the request's one method (a Basic
  header or a ``client_secret`` next to an assertion is ``invalid_request``, a body
  ``client_id`` must equal ``iss`` and ``sub``, the ``client_assertion_type`` must be RFC
  7523's), and the assertion's ``alg`` says which of the two methods it is;
- it verifies with one key set and joserfc's default algs; here the algs are the client's
  (``requirements(client).signing_algs``, narrowed to ``token_endpoint_auth_signing_alg`` when
  registered; HMAC only for ``client_secret_jwt``), and the keys come from
  ``oauth.client_keys`` (``jwks`` or the SSRF-safe, cached ``jwks_uri``, one refetch on an
  unknown ``kid``);
- it bounds nothing but ``exp`` being in the future; here ``exp`` is required and at most
  ``MAX_ASSERTION_LIFETIME`` ahead (so a stolen assertion is short-lived and the replay cache
  small), ``iat``/``nbf`` are honoured with ``LEEWAY``, and ``jti`` is required and single use.

Claims (RFC 7523 §3): ``iss`` = ``sub`` = the client_id; ``aud`` the issuer (RFC 7523bis,
draft-ietf-oauth-rfc7523bis §4) or, for compatibility with clients that follow RFC 7523 and
OIDC Core §9 literally, the token endpoint URL or the URL of the endpoint called.

Replay (RFC 7523 §3 item 7): the ``jti`` is recorded with one atomic ``SET NX`` with expiry
(``cache.add``) until the assertion expires; the cache's key function prefixes the tenant's
schema, so a ``jti`` used at one tenant blocks nothing at another. When Redis is down the add
fails and the assertion is refused (fail closed: a replay cache that forgets is no cache).

Every refusal is 401 ``invalid_client`` (RFC 6749 §5.2) whose description says why.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from django.core.cache import cache
from django.urls import reverse
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from oauth.algs import CLIENT_SECRET_JWT_ALGS, SECRET_JWT_ALGS
from oauth.client_auth import (
    PRIVATE_KEY_JWT,
    SECRET_JWT,
    ClientAuthenticationFailed,
    check_profile_allows,
    presented_credentials,
)
from oauth.client_keys import ClientKeysError, verify_client_jwt
from oauth.models import Client
from oauth.security_profile import requirements
from oauth.signing.encryption import KeyDecryptionError, decrypt_private_key

#: Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat`` (RFC 7519 §4.1.4).
LEEWAY = 30
#: An assertion may expire at most this many seconds after it is presented. One hour, not
#: less: Authlib's client (``PrivateKeyJWT``, ``ClientSecretJWT``) signs ``exp = iat + 3600``
#: and cannot be told otherwise without reusing one ``jti`` (its ``claims`` dict is kept),
#: and a replay cache entry lives only this long, so the bound still caps what it holds.
MAX_ASSERTION_LIFETIME = 3600


def assertion_algorithms(client: Client, method: str) -> tuple[str, ...]:
    """The JWS algs an assertion of ``method`` from ``client`` may be signed with."""
    needs = requirements(client)
    if method == SECRET_JWT:
        # FAPI 2.0 allows no HMAC assertion (and no client_secret_jwt: check_profile_allows).
        algs = () if needs.fapi2 else CLIENT_SECRET_JWT_ALGS
    else:
        algs = tuple(alg for alg in needs.signing_algs if alg not in SECRET_JWT_ALGS)
    pinned = client.token_endpoint_auth_signing_alg
    if pinned:
        algs = tuple(alg for alg in algs if alg == pinned)
    return algs


def client_secret_key(client: Client) -> OctKey:
    """The HMAC key of a ``client_secret_jwt`` client: its secret, kept encrypted at rest
    (``Client.secret_ciphertext``) because RFC 7523 §2.2 MACs with the secret itself. Only
    the current secret is kept so: after a rotation the previous one still works for Basic
    and POST during its overlap, but no longer MACs assertions."""
    if not client.secret_ciphertext:
        raise ClientKeysError(
            "This client has no recoverable secret for client_secret_jwt: rotate its secret "
            "(the new one is kept for HMAC assertions)."
        )
    try:
        return OctKey.import_key(decrypt_private_key(client.secret_ciphertext))
    except KeyDecryptionError:
        raise ClientKeysError("This client's secret cannot be read; rotate it.") from None


def _verify_secret_jwt(client: Client, value: str, algorithms: tuple[str, ...]) -> jwt.Token:
    """RFC 7523 §2.2 ``client_secret_jwt``: the MAC with the client secret, one of
    ``algorithms`` (``CLIENT_SECRET_JWT_ALGS``)."""
    try:
        alg = jws.extract_compact(value.encode("ascii")).headers().get("alg")
    except (JoseError, ValueError, UnicodeError):
        raise ClientKeysError("Not a signed JWT in compact form.") from None
    if alg not in algorithms:
        raise ClientKeysError(
            f"The JWT is signed with {alg!r}; allowed here: {', '.join(algorithms)}."
        )
    key = client_secret_key(client)
    try:
        return jwt.decode(value, key, algorithms=[alg])
    except (JoseError, ValueError):
        raise ClientKeysError("The JWT's MAC does not verify with the client secret.") from None


def _jti_key(client: Client, jti: str) -> str:
    # The cache's key function prefixes the schema: tenant-scoped (DESIGN.md §6).
    return f"oauth:assertion-jti:{client.pk}:{hashlib.sha256(jti.encode()).hexdigest()}"


class ClientAssertion(JWTBearerClientAssertion):
    """One request's ``private_key_jwt`` or ``client_secret_jwt`` authentication. Built per
    request (the audiences are the request's issuer), so nothing is shared between threads."""

    def __init__(self, method: str, request) -> None:
        super().__init__(validate_jti=True, leeway=LEEWAY)
        self.CLIENT_AUTH_METHOD = method
        self.request = request
        self.realm = request.issuer
        self.client: Client | None = None
        self.recorded = False

    def refuse(self, description: str) -> ClientAuthenticationFailed:
        return ClientAuthenticationFailed(description, realm=self.realm)

    def __call__(self, query_client: Callable, request) -> Client | None:
        presented = presented_credentials(request)
        if presented is None or presented.method != self.CLIENT_AUTH_METHOD:
            return None
        client = query_client(presented.client_id)
        if client is None:
            raise self.refuse("The client assertion's iss and sub name no client of this issuer.")
        registered = client.token_endpoint_auth_method
        if registered != self.CLIENT_AUTH_METHOD:
            kind = "an HMAC (HS*)" if self.CLIENT_AUTH_METHOD == SECRET_JWT else "a public-key"
            raise self.refuse(
                f"This client is registered to authenticate with {registered}, not "
                f"{self.CLIENT_AUTH_METHOD} ({kind} signed assertion)."
            )
        check_profile_allows(client, self.CLIENT_AUTH_METHOD, self.realm)
        self.client = client
        # A request answered again from a fresh client read (``oauth.server``'s
        # ``_with_cached_clients``) presents its assertion twice: verified again against the
        # fresh row, its jti recorded only the first time.
        self.recorded = getattr(request, "recorded_assertion", None) == presented.assertion
        self.process_assertion_claims(presented.assertion, client)
        request.recorded_assertion = presented.assertion
        request.client = client
        return client

    def process_assertion_claims(self, assertion: str, client: Client) -> dict:
        """RFC 7523 §3: the signature with the client's keys and algs, then the claims."""
        algorithms = assertion_algorithms(client, self.CLIENT_AUTH_METHOD)
        if not algorithms:
            raise self.refuse(
                f"No signing alg is allowed for {self.CLIENT_AUTH_METHOD} for this client."
            )
        try:
            if self.CLIENT_AUTH_METHOD == SECRET_JWT:
                token = _verify_secret_jwt(client, assertion, algorithms)
            else:
                token = verify_client_jwt(client, assertion, algorithms=algorithms)
        except ClientKeysError as error:
            raise self.refuse(f"The client assertion is refused: {error}") from None
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims) -> None:
        """Our bounds first (they consume nothing), then Authlib's checks of ``iss``,
        ``sub``, ``aud``, ``exp``, ``nbf``, ``iat`` and the ``jti``, which records it."""
        now = time.time()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise self.refuse(
                "The client assertion needs a numeric exp claim (RFC 7523 section 3)."
            )
        if exp > now + MAX_ASSERTION_LIFETIME + LEEWAY:
            raise self.refuse(
                f"The client assertion's exp is {int(exp - now)} s ahead; at most "
                f"{MAX_ASSERTION_LIFETIME} s are accepted."
            )
        if claims.get("iss") != self.client.client_id or claims.get("sub") != self.client.client_id:
            raise self.refuse("The client assertion's iss and sub must be the client_id.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 512:
            raise self.refuse("The client assertion needs a jti claim: a unique string.")
        try:
            super().verify_claims(claims)
        except InvalidClientError as error:
            raise self.refuse(self._explain(error.description or "")) from None

    def _explain(self, description: str) -> str:
        if "aud" in description:
            return (
                f"The client assertion's aud must be this issuer, {self.get_audiences()[0]} "
                "(or its token endpoint URL)."
            )
        if "JWT ID" in description and "before" in description:
            return (
                "The client assertion's jti was used before: each assertion is single use "
                "(RFC 7523 section 3)."
            )
        if "expired" in description:
            return "The client assertion has expired."
        return f"The client assertion is not valid: {description}"

    def get_audiences(self) -> list[str]:
        issuer = self.request.issuer
        audiences = [issuer, issuer + reverse("oauth-token")]
        called = issuer + self.request.http_request.path
        return audiences if called in audiences else [*audiences, called]

    def validate_jti(self, claims, jti: str) -> bool:
        if self.recorded:
            return True
        ttl = max(1, int(claims["exp"] - time.time()) + LEEWAY)
        return bool(cache.add(_jti_key(self.client, jti), 1, timeout=ttl))


def authenticate_private_key_jwt(query_client: Callable, request) -> Client | None:
    """``private_key_jwt`` (RFC 7523 §2.2, OIDC Core §9): a JWT signed with a key of the
    client's ``jwks`` / ``jwks_uri``."""
    return ClientAssertion(PRIVATE_KEY_JWT, request)(query_client, request)


def authenticate_client_secret_jwt(query_client: Callable, request) -> Client | None:
    """``client_secret_jwt`` (RFC 7523 §2.2, OIDC Core §9): a JWT MACed (HS256) with the
    client secret."""
    return ClientAssertion(SECRET_JWT, request)(query_client, request)
