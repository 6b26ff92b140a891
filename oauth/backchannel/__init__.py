"""OpenID Connect Back-Channel Logout 1.0: when a user's session ends here, every client that
got tokens in that session and registered a ``backchannel_logout_uri`` is told so directly,
server to server, with a signed logout token.

``services`` records which clients each session (``sid``) signed in to and, when sessions end
(``kernel.accounts.signals.sessions_ended``), writes one outbox row per (client, session)
(``oauth.models.BackchannelLogoutDelivery``) in the ending transaction and sends
``signals.logout_due`` once it commits; the workers layer enqueues one delivery task per row,
which calls ``services.logout_delivery_attempt`` (the token of ``tokens``, POSTed by
``oauth.fetch_post``) with retries and back-off recorded on the row. A message that never
reached the broker, or was lost, is enqueued again by the sweep (``selectors``). The user's
request never waits for a client, nor for the broker.
"""
