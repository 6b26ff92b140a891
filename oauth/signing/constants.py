"""The algs every tenant signs with and the lifetimes that bound how long a key is published.

Rotation without a gap (OIDC Core §10.1.1) keeps a retired-from-signing key published for
``max_signed_token_lifetime`` + ``CLOCK_SKEW_LEEWAY``; ``ID_TOKEN_LIFETIME`` is one of the
lifetimes that maximum counts.
"""

#: Algorithms a tenant signs with, in the order JWKS lists them (RFC 7518 §3.1 names). RS256
#: is the OIDC default for id_tokens (Registration §2, Discovery §3); PS256 (RSASSA-PSS,
#: §3.5) is what FAPI 2.0 §5.4.1 allows of RSA.
SUPPORTED_ALGS: tuple[str, ...] = ("RS256", "ES256", "PS256")
#: Algorithms every tenant gets keys for at provisioning. The others (``LAZY_ALGS``) get their
#: current and next key on first need (``services.signing_keys_ensure``): PS256 needs its
#: own RSA key, since a JWK whose ``alg`` pins RS256 must not sign PS256 (RFC 7517 §4.4,
#: RFC 8725 §3.1: one key, one alg) and the ``kid`` is the key material's thumbprint, so
#: two JWKs of one key would share a ``kid``. Two more RSA generations (~50-200 ms each)
#: for every new tenant would buy nothing for tenants that never use PS256.
PROVISIONED_ALGS: tuple[str, ...] = ("RS256", "ES256")
LAZY_ALGS: tuple[str, ...] = ("PS256",)
DEFAULT_ALG = "RS256"
#: RFC 7518 §3.3: a key of 2048 bits or larger MUST be used with RS256.
RSA_KEY_SIZE = 2048
#: Lifetime of id_tokens in seconds; the id_token code uses this (or a shorter one), and
#: ``selectors.max_signed_token_lifetime`` counts it.
ID_TOKEN_LIFETIME = 3600
#: Seconds a retiring key outlives its last token, for verifiers whose clocks run late or
#: who allow leeway on ``exp`` (RFC 7519 §4.1.4).
CLOCK_SKEW_LEEWAY = 300
