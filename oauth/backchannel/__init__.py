"""OpenID Connect Back-Channel Logout 1.0: when a user's session ends here, every client that
got tokens in that session and registered a ``backchannel_logout_uri`` is told so directly,
server to server, with a signed logout token.

``services`` records which clients each session (``sid``) signed in to and, when sessions end
(``kernel.accounts.signals.sessions_ended``), sends ``signals.logout_due`` once the ending
transaction commits; the workers layer enqueues one delivery task per (client, session), which
calls ``services.logout_deliver`` (the token of ``tokens``, POSTed by ``oauth.fetch_post``)
with retries and back-off. The user's request never waits for a client.
"""
