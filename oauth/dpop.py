"""DPoP, Demonstrating Proof of Possession (RFC 9449): sender-constrained access tokens.

A client proves with each request that it holds a private key, by a ``DPoP`` header holding
a JWT signed with that key (the proof, §4). The token endpoint binds the tokens it issues
to the key's RFC 7638 thumbprint (``jkt``, §5, §6): stored with the token
(``Token.dpop_jkt``), in JWT access tokens as ``cnf.jkt`` (§6.1) and in introspection
answers (§6.2). A bound access token works only as ``Authorization: DPoP <token>`` with a
proof of the same key that also names the token (``ath``, §7); a refresh token of a public
client is bound to the key too (§5).

Each proof is checked as §4.3 says: one header, a JWS whose header has ``typ: dpop+jwt``,
an asymmetric ``alg`` the client's security profile allows
(``security_profile.requirements(client).signing_algs``) and a public ``jwk`` that verifies
the signature; claims ``jti`` (never seen before in this tenant: one atomic ``SET NX`` in
Redis, with an expiry covering the ``iat`` window), ``htm`` (the request's method), ``htu``
(the request's URL on the tenant's issuer, never the raw Host header), ``iat`` (within
``IAT_WINDOW_SECONDS`` of now), ``ath`` at the resource, and ``nonce`` when the tenant
requires server nonces (§8, ``IssuerSettings.dpop_nonce_required``).

Server nonces are stateless: the HMAC (Django's ``salted_hmac`` with the server's secret)
of the tenant's schema and the current ``NONCE_WINDOW_SECONDS`` window, so a nonce of one
tenant means nothing at another; the current and the previous window's nonce are accepted.

joserfc does the JOSE work (header parsing, key import, signature, thumbprint); this module
is the policy around it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from django.core.cache import cache
from django.db import connection
from django.utils.crypto import salted_hmac
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.util import urlsafe_b64encode

from kernel import credentials
from oauth import selectors
from oauth.client_keys import ClientKeysError, check_public_jwks
from oauth.grants.errors import safe_text
from oauth.models import Client
from oauth.security_profile import ASYMMETRIC_ALGS, requirements

#: The request header carrying the proof (§4.1) and the one carrying a server nonce (§8.1).
HEADER = "DPoP"
NONCE_HEADER = "DPoP-Nonce"
#: The ``Authorization`` scheme of a bound access token (§7.1) and its ``token_type`` (§5).
SCHEME = "DPoP"
#: §4.2: the ``typ`` header of a proof.
PROOF_TYP = "dpop+jwt"
#: §4.3 check 11, §11.1: a proof's ``iat`` may be this many seconds off the server's clock.
IAT_WINDOW_SECONDS = 60
#: §8: a server nonce is valid in its window and the next one.
NONCE_WINDOW_SECONDS = 300
#: A proof is a few hundred bytes; an RSA-4096 jwk makes it about 1.5 KB.
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 256
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class _ProofRegistry(jws.JWSRegistry):
    """joserfc's default 512-byte limit on a JWS header holds an EC key's ``jwk`` but not
    an RSA one, and a proof carries its key in the header (§4.2): 4 KB holds RSA-4096."""

    max_header_length = 4096


class InvalidDPoPProofError(OAuth2Error):
    """§5, §7.1 ``invalid_dpop_proof``: 400 at the token endpoint (401 at a resource)."""

    error = "invalid_dpop_proof"
    status_code = 400


class UseDPoPNonceError(OAuth2Error):
    """§8: the proof lacks this server's current nonce; the answer carries one in the
    ``DPoP-Nonce`` header, for the client to send its proof again with it."""

    error = "use_dpop_nonce"
    status_code = 400

    def __init__(self, description: str, *, nonce: str) -> None:
        super().__init__(description)
        self.nonce = nonce

    def get_headers(self):
        return [*super().get_headers(), (NONCE_HEADER, self.nonce)]


@dataclass(frozen=True)
class Proof:
    """A verified proof: the thumbprint of its key (§6.1 ``jkt``) and its ``jti``."""

    jkt: str
    jti: str


# --- Server nonces (§8) ----------------------------------------------------------------------


def _nonce_at(window: int) -> str:
    mac = salted_hmac(
        "gatehouse.oauth.dpop.nonce", f"{connection.schema_name}:{window}", algorithm="sha256"
    )
    return urlsafe_b64encode(mac.digest()).decode("ascii")


def current_nonce(*, now: float | None = None) -> str:
    """This tenant's nonce for the current window."""
    return _nonce_at(int((time.time() if now is None else now) // NONCE_WINDOW_SECONDS))


def nonce_valid(nonce: str, *, now: float | None = None) -> bool:
    """Whether ``nonce`` is this tenant's nonce of the current or the previous window
    (compared in constant time)."""
    window = int((time.time() if now is None else now) // NONCE_WINDOW_SECONDS)
    presented = nonce.encode("utf-8", "surrogatepass")  # JSON may hold lone surrogates
    valid = [hmac.compare_digest(presented, _nonce_at(w).encode()) for w in (window, window - 1)]
    return any(valid)


def nonce_required() -> bool:
    return selectors.issuer_policy().dpop_nonce_required


# --- Proof verification (§4.3) ---------------------------------------------------------------


def normalised_url(url: str) -> tuple[str, str, int, str] | None:
    """§4.3 check 9: ``htu`` and the request's URL are compared without query and fragment,
    after RFC 3986 §6.2.2 syntax-based and §6.2.3 scheme-based normalisation: scheme and
    host case-folded, the default port made explicit, an empty path made ``/``, percent
    escapes of unreserved characters decoded and the others upper-cased. None when ``url``
    is no absolute http(s) URL.

    Written here: the standard library splits URLs but does not normalise them, and this is
    all RFC 9449 asks for.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None

    def escape(match: re.Match) -> str:
        char = unquote(match.group())
        return char if char in _UNRESERVED else match.group().upper()

    path = _PERCENT_ESCAPE.sub(escape, parts.path) or "/"
    return scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme], path


def access_token_hash(access_token: str) -> str:
    """§4.2 ``ath``: base64url of the SHA-256 of the access token's ASCII bytes."""
    digest = hashlib.sha256(access_token.encode("ascii", "replace")).digest()
    return urlsafe_b64encode(digest).decode("ascii")


def _jti_key(jkt: str, jti: str) -> str:
    # The cache's key function prefixes the tenant's schema (django_tenants.cache.make_key);
    # the schema is in the key itself too, so a raw Redis reader sees whose it is.
    return f"dpop-jti:{connection.schema_name}:{jkt}:{credentials.digest(jti)}"


def verify_proof(
    value: str | None,
    *,
    method: str,
    url: str,
    algs: tuple[str, ...] = ASYMMETRIC_ALGS,
    access_token: str | None = None,
    require_nonce: bool = False,
    record_jti: bool = True,
    now: float | None = None,
) -> Proof:
    """Check the proof ``value`` (the ``DPoP`` header) of a ``method`` request to ``url``
    (RFC 9449 §4.3); with ``access_token``, the proof must name it (``ath``, §7.1). Raises
    ``InvalidDPoPProofError`` saying what is wrong, or ``UseDPoPNonceError``.
    ``record_jti=False`` only for a proof this very request already passed (and recorded).

    The ``jti`` is recorded only once everything else holds, so a refused proof costs the
    client nothing; with Redis unavailable the record cannot be made and the proof is
    refused (a replay could not be told apart).
    """
    if not value or len(value) > MAX_PROOF_LENGTH or "," in value or value.count(".") != 2:
        # Two DPoP headers reach us joined with a comma, which no JWS compact value holds.
        raise InvalidDPoPProofError("Send exactly one DPoP header holding one proof JWT.")
    try:
        header = jws.extract_compact(value.encode("ascii"), registry=_ProofRegistry()).headers()
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise InvalidDPoPProofError("The DPoP proof is not a JWS compact serialisation.") from None
    if header.get("typ") != PROOF_TYP:
        raise InvalidDPoPProofError(f"The DPoP proof's header must have typ {PROOF_TYP}.")
    alg = header.get("alg")
    if alg not in algs:
        raise InvalidDPoPProofError(f"The DPoP proof must be signed with one of {', '.join(algs)}.")
    if not isinstance(header.get("jwk"), dict):
        raise InvalidDPoPProofError("The DPoP proof's header must carry the public key (jwk).")
    try:
        key = check_public_jwks({"keys": [header["jwk"]]}).keys[0]
    except ClientKeysError:
        raise InvalidDPoPProofError(
            "The DPoP proof's jwk must be one public asymmetric key, without private members."
        ) from None
    try:
        claims = jwt.decode(value, key, registry=_ProofRegistry(algorithms=[alg])).claims
    except (JoseError, ValueError, TypeError):
        raise InvalidDPoPProofError("The DPoP proof's signature does not verify.") from None
    _check_claims(claims, method=method, url=url, access_token=access_token, now=now)
    if require_nonce:
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not nonce_valid(nonce, now=now):
            raise UseDPoPNonceError(
                "Send the DPoP proof again with the nonce of the DPoP-Nonce header.",
                nonce=current_nonce(now=now),
            )
    jkt = key.thumbprint()
    # §11.1: a proof is used once. SET NX with an expiry: the iat window either side of now.
    if record_jti and not cache.add(
        _jti_key(jkt, claims["jti"]), 1, timeout=2 * IAT_WINDOW_SECONDS + 1
    ):
        raise InvalidDPoPProofError("This DPoP proof was used before; make a new one.")
    return Proof(jkt=jkt, jti=claims["jti"])


def _check_claims(claims: dict, *, method: str, url: str, access_token, now) -> None:
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidDPoPProofError("The DPoP proof needs a jti (a unique identifier).")
    if claims.get("htm") != method:
        raise InvalidDPoPProofError(f"The DPoP proof's htm must be this request's method {method}.")
    htu = claims.get("htu")
    expected = normalised_url(url)
    if not isinstance(htu, str) or normalised_url(htu) != expected:
        raise InvalidDPoPProofError(f"The DPoP proof's htu must be {safe_text(url)}.")
    iat = claims.get("iat")
    current = time.time() if now is None else now
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise InvalidDPoPProofError("The DPoP proof needs an iat (a NumericDate).")
    if abs(current - iat) > IAT_WINDOW_SECONDS:
        raise InvalidDPoPProofError(
            f"The DPoP proof's iat is more than {IAT_WINDOW_SECONDS} s off; make a new one."
        )
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(
            ath.encode("utf-8", "surrogatepass"), access_token_hash(access_token).encode()
        ):
            raise InvalidDPoPProofError(
                "The DPoP proof's ath must be the hash of the access token it is sent with."
            )


# --- The token endpoint (§5) -------------------------------------------------------------------


def bind_token_request(token: dict, request) -> None:
    """RFC 9449 §5 for a token request that passed its grant's checks, before anything is
    stored: with a ``DPoP`` header, the proof is verified for the token endpoint's URL and
    the token becomes ``token_type: DPoP``, its key's thumbprint in ``request.dpop_jkt``
    for the storage (and ``cnf.jkt``); without one, a client that must use DPoP
    (``dpop_bound_access_tokens``, FAPI 2.0) is refused (§5.2).

    The hot path may answer one request twice, the second time with a fresh read of a
    client that changed meanwhile (``oauth.server``): the proof is then checked again
    against the fresh client's requirements, but its ``jti``, recorded by the first pass,
    is not a replay."""
    client: Client = request.client
    needs = requirements(client)
    value = request.http_request.headers.get(HEADER)
    if value is None:
        if needs.dpop_required:
            raise InvalidDPoPProofError(
                "This client's access tokens must be DPoP-bound: send a DPoP proof."
            )
        return
    proof = verify_proof(
        value,
        method=request.method,
        url=request.issuer + request.http_request.path,
        algs=needs.signing_algs,
        require_nonce=nonce_required(),
        record_jti=request.dpop_jkt is None,
    )
    request.dpop_jkt = proof.jkt
    token["token_type"] = SCHEME


def check_refresh_binding(request, *, bound_jkt: str | None) -> None:
    """§5: a public client's refresh token bound to a key (``bound_jkt``) is used only with
    a proof of that key; a confidential client's refresh token is bound to its client
    authentication instead."""
    if bound_jkt is None or not request.client.is_public:
        return
    if request.dpop_jkt is None or not hmac.compare_digest(request.dpop_jkt, bound_jkt):
        raise InvalidDPoPProofError(
            "This refresh token is bound to a DPoP key: send a proof signed with that key."
        )


_JKT = re.compile(r"[A-Za-z0-9_-]{43}")


def check_jkt_parameter(value: str | None) -> None:
    """§10: an authorization request's ``dpop_jkt``, when sent, is a SHA-256 JWK thumbprint
    (43 base64url characters); anything else is ``invalid_request``."""
    if value is not None and not _JKT.fullmatch(value):
        raise InvalidRequestError(
            "The dpop_jkt parameter must be a JWK SHA-256 thumbprint (RFC 9449 section 10)."
        )


def check_code_binding(request, *, bound_jkt: str) -> None:
    """§10: a code whose authorization request named ``dpop_jkt`` is redeemed only with a
    proof of that key. Refused before the code is consumed, so a thief's attempt leaves
    the code to its client."""
    if bound_jkt and (
        request.dpop_jkt is None or not hmac.compare_digest(request.dpop_jkt, bound_jkt)
    ):
        raise InvalidDPoPProofError(
            "This authorization code is bound to a DPoP key (dpop_jkt): send a proof "
            "signed with that key."
        )


# --- Protected resources (§7) ------------------------------------------------------------------


def verify_resource_proof(http_request, *, access_token: str, bound_jkt: str, client) -> Proof:
    """§7.1: a DPoP-bound ``access_token`` presented to a resource of this server
    (userinfo) with its proof: for this request's method and URL, naming the token
    (``ath``) and signed with the key the token is bound to."""
    proof = verify_proof(
        http_request.headers.get(HEADER),
        method=http_request.method,
        url=selectors.issuer_for_request(http_request) + http_request.path,
        algs=proof_algs(client),
        access_token=access_token,
        require_nonce=nonce_required(),
    )
    if not hmac.compare_digest(proof.jkt, bound_jkt):
        raise InvalidDPoPProofError(
            "The DPoP proof is signed with another key than the access token is bound to."
        )
    return proof


def proof_algs(client) -> tuple[str, ...]:
    """The algs ``client``'s proofs may use (its security profile's)."""
    return requirements(client).signing_algs


def confirmation(row) -> dict:
    """§6.1, §6.2: the ``cnf`` member naming the key a token row is bound to ({} if none)."""
    return {"cnf": {"jkt": row.dpop_jkt}} if row.dpop_jkt else {}


def metadata() -> dict:
    """RFC 9449 §5.1 authorization server metadata: the algs this tenant verifies proofs
    with (its security profile's, ``requirements(None)``)."""
    return {"dpop_signing_alg_values_supported": list(requirements(None).signing_algs)}
