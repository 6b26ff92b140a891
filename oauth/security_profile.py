"""What a client's security profile requires: the FAPI 2.0 Security Profile (final, 2025) or
the plain one, per tenant (``IssuerSettings.security_profile``) or per client
(``Client.security_profile``), the stricter of the two winning.

Each feature enforces its own part of ``requirements(client)``: the authorization endpoint
PAR (FAPI 2.0 §5.3.2.2 item 2, RFC 9126 §5-§6) and the response types, client authentication
the methods and algs (§5.3.2.1 item 4, §5.4.1), the token endpoint DPoP (§5.3.2.2 item 8,
RFC 9449 §5), code issuance the code lifetime (§5.3.2.1 item 6), every signature check the
algs (§5.4.1: PS256, ES256, EdDSA). Mutual TLS is out of scope, so DPoP is the one
sender-constraining mechanism FAPI 2.0 leaves.

A pure module: it reads the client row and the cached issuer policy, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from oauth.algs import ASYMMETRIC_ALGS, FAPI2_ALGS
from oauth.algs import SECRET_JWT_ALGS as SECRET_JWT_ALGS  # re-exported
from oauth.models import Client
from oauth.selectors import IssuerPolicy, issuer_policy

FAPI2 = Client.SecurityProfile.FAPI2.value

#: FAPI 2.0 §5.3.2.1 item 6: authorization codes live at most 60 s.
FAPI2_MAX_CODE_LIFETIME = 60


@dataclass(frozen=True)
class Requirements:
    """What requests of one client must satisfy under its effective profile."""

    #: "" (none) or ``FAPI2``.
    profile: str
    #: RFC 9126 §5/§6: a plain authorization request is refused; only ``request_uri`` from PAR.
    par_required: bool
    #: RFC 9449 §5: access tokens must be DPoP-bound; a token request without a proof fails.
    dpop_required: bool
    #: Token endpoint authentication methods allowed; None = the client's registered one.
    #: Under FAPI 2.0 only ``private_key_jwt``, which also makes it confidential clients only
    #: (FAPI 2.0 §5.3.2.1): ``none`` is refused by ``client_auth.check_profile_allows`` at
    #: every endpoint a client authenticates at (token, PAR, revocation, introspection,
    #: device authorization), registration refuses it (``ClientMetadata``), and a public
    #: client cannot skip PAR (``par_required``), so no separate "confidential only" flag.
    auth_methods: tuple[str, ...] | None
    #: JWS algs accepted for every signature verified for this client (assertions, request
    #: objects, DPoP proofs) and for id_tokens signed for it.
    signing_algs: tuple[str, ...]
    #: Authorization response types allowed; None = the client's registered ones.
    response_types: tuple[str, ...] | None
    #: Upper bound of the authorization code lifetime in seconds; None = the tenant's.
    max_code_lifetime: int | None

    @property
    def fapi2(self) -> bool:
        return self.profile == FAPI2


def effective_profile(client: Client | None, tenant_profile: str = "") -> str:
    """The stricter of the tenant's and the client's profile (a client may only tighten)."""
    if tenant_profile == FAPI2 or (client is not None and client.security_profile == FAPI2):
        return FAPI2
    return ""


def requirements(client: Client | None, *, policy: IssuerPolicy | None = None) -> Requirements:
    """What ``client``'s requests must satisfy. ``policy`` is this tenant's issuer policy
    (the cached one when omitted)."""
    if policy is None:
        policy = issuer_policy()
    profile = effective_profile(client, policy.security_profile)
    client_par = bool(client is not None and client.require_pushed_authorization_requests)
    client_dpop = bool(client is not None and client.dpop_bound_access_tokens)
    if profile == FAPI2:
        return Requirements(
            profile=FAPI2,
            par_required=True,
            dpop_required=True,
            auth_methods=(Client.AuthMethod.PRIVATE_KEY_JWT.value,),
            signing_algs=FAPI2_ALGS,
            response_types=("code",),
            max_code_lifetime=FAPI2_MAX_CODE_LIFETIME,
        )
    return Requirements(
        profile="",
        par_required=policy.require_pushed_authorization_requests or client_par,
        dpop_required=client_dpop,
        auth_methods=None,
        signing_algs=ASYMMETRIC_ALGS,
        response_types=None,
        max_code_lifetime=None,
    )
