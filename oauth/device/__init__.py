"""The device authorization grant (RFC 8628): the device authorization endpoint, the user
code page ``/device`` on the tenant host, and polling at the token endpoint.

- ``codes``: user codes (§6.1) and their normal form;
- ``throttle``: guessing user codes (§5.1), per client IP and per tenant;
- ``services`` (writes) and ``selectors`` (reads) of ``oauth.models.DeviceAuthorization``;
- ``endpoint``: Authlib's ``DeviceAuthorizationEndpoint`` at its extension points;
- ``grant``: Authlib's ``DeviceCodeGrant`` with our storage and atomic ``slow_down``;
- ``views``, ``urls``: the JSON endpoint and the user's pages.
"""
