"""OpenID Connect for every tenant, one module per concern:

``claims`` (Core §5.1, §5.4), ``tokens`` (id_tokens, Core §2 and §3.1.3.6; JWT access tokens,
RFC 9068), ``authorization`` (request parameters, Core §3.1.2.1), ``userinfo`` (Core §5.3,
RFC 6750), ``discovery`` (Discovery 1.0 §3) and ``logout`` (RP-Initiated Logout 1.0).
Signing and verification are ``oauth.signing.jws``'s, with the tenant's own keys; nothing
here is cached across tenants (DESIGN.md §1). Import the module you need; this package
re-exports nothing.
"""
