"""OpenID Connect Discovery 1.0 §3: the provider metadata of this tenant.

It extends the RFC 8414 authorization server metadata (``oauth.selectors``) with the OIDC
members; everything advertised is true of this server.
"""

from __future__ import annotations

from django.urls import reverse

from oauth import dpop, selectors
from oauth.grants import request_objects
from oauth.oidc.acr import ACR_VALUES_SUPPORTED
from oauth.oidc.claims import SCOPE_CLAIMS, claims_supported
from oauth.signing.constants import SUPPORTED_ALGS


def provider_metadata(request) -> dict:
    """Discovery §3: the RFC 8414 metadata of this tenant extended for OpenID Connect.

    Everything advertised is true: id_tokens are signed with the algs the tenant holds keys
    for (RS256 first, as §3 requires); ``request_uri_parameter_supported`` defaults to true
    (§3) and is therefore explicitly false: request objects are accepted by value
    (``request``) and through PAR, never fetched from a client's URL.
    """
    metadata = selectors.authorization_server_metadata(request)
    issuer = metadata["issuer"]
    metadata.update(
        {
            "end_session_endpoint": issuer + reverse("oauth-end-session"),
            # OIDC Back-Channel Logout 1.0 §2.1 (oauth.backchannel): logout tokens carry sid.
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            # The tenant's allowed scopes; when it restricts none, the ones with OIDC meaning.
            "scopes_supported": list(selectors.issuer_policy().scopes_supported)
            or list(SCOPE_CLAIMS),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(SUPPORTED_ALGS),
            "claims_supported": claims_supported(),
            "acr_values_supported": list(ACR_VALUES_SUPPORTED),
            "claims_parameter_supported": False,
            "request_parameter_supported": True,
            "request_uri_parameter_supported": False,
        }
    )
    metadata.update(request_objects.metadata())
    metadata.update(dpop.metadata())
    return metadata
