"""The signed-in user's own account page (``/account/`` on the tenant host) and the
self-service pages around it: forgotten password, email verification."""
