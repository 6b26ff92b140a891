"""Each tenant's JWS signing keys: made, stored encrypted, rotated, published, used to sign.

The modules, each importing only those listed before it:

``constants``
    The algs every tenant holds a key for and the lifetimes the rotation bound is made of.
``encryption``
    Private keys at rest (MultiFernet); needs settings only, never the app registry.
``keys``
    JWK material through joserfc (RFC 7517, RFC 7518 §6, RFC 7638 thumbprints).
``selectors``
    Reads: the published keys, JWKS, the current signing key, the longest token lifetime.
``jws``
    ``sign_jwt`` and ``verify_jwt`` through joserfc (RFC 7515, RFC 7519, RFC 9068).
``services``
    Writes: provisioning, rotation (OIDC Core §10.1.1), re-encryption.

Import the module you need (``from oauth.signing import jws``); this package re-exports
nothing.
"""
