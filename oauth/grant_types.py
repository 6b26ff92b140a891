"""The grant types this server implements: the one list that client registration
(``client_metadata``), the metadata document (RFC 8414 §2 ``grant_types_supported``) and the
metrics labels read. A test ties it to the grants registered on the server. No model imports
here: the composition reads it while the app registry is still loading."""

#: RFC 8693 §2.1: OAuth 2.0 Token Exchange.
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
#: RFC 8628 §3.4 (``authlib.oauth2.rfc8628.DEVICE_CODE_GRANT_TYPE``).
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"

GRANT_TYPES: tuple[str, ...] = (
    "authorization_code",
    "client_credentials",
    "refresh_token",
    TOKEN_EXCHANGE,
    DEVICE_CODE,
)
