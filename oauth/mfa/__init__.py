"""Second factors: TOTP (RFC 6238), recovery codes and WebAuthn passkeys, and the tenant's
MFA policy. Enrolment pages live under ``/account/mfa/``; sign-in asks for a factor after
the password (``oauth.views.authorize.login`` hands over to ``views.challenge``)."""
