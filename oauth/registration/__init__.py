"""Clients that register themselves: RFC 7591 dynamic registration at ``/oauth/register``,
RFC 7592 management at each client's ``registration_client_uri``, and Client ID Metadata
Documents (draft-ietf-oauth-client-id-metadata-document), under the tenant admin's
``RegistrationPolicy``. Every client they make is a ``ClientMetadata``, validated exactly as
one made in the console."""
