"""OAuth 2.0 Token Exchange (RFC 8693): which tokens an exchange accepts (``selectors``) and
how the issued token is stored and audited (``services``). The grant itself, Authlib's
extension point, is ``oauth.grants.token_exchange``.

Authlib 1.9.10 ships ``authlib.oauth2.rfc8693`` as an empty package, so the request
parameters (RFC 8693 §2.1), the ``act`` claim (§4.1) and the response (§2.2.1) are ours.
"""

#: RFC 8693 §3 token type identifiers.
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"
#: What ``subject_token_type`` and ``actor_token_type`` may be here (``selectors``).
ACCEPTED_TOKEN_TYPES: tuple[str, ...] = (ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE)
#: What ``requested_token_type`` may be, and thus every ``issued_token_type`` (§2.2.1).
ISSUED_TOKEN_TYPES: tuple[str, ...] = (ACCESS_TOKEN_TYPE,)
