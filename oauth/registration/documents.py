"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a
``client_id`` that is an https URL names the client's metadata, served at that URL.

The document is fetched by the SSRF-safe ``oauth.fetch`` (cached per its HTTP cache headers)
and validated exactly like an RFC 7591 registration (``registration_from_json``, with the
tenant's policy), and its ``client_id`` must be the URL itself (§4.1). The client is kept as
a ``Client`` row whose ``client_id`` is the URL, refreshed when the document changes, so
codes, tokens, consents and the console work as for any client; the tenant admin can disable
it there (a disabled document client is not resolved again).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2.base import OAuth2Error
from django.db import IntegrityError, transaction
from django.utils import timezone

from oauth import fetch
from oauth.client_metadata import ClientError
from oauth.models import Client, RegistrationPolicy
from oauth.models.clients import MAX_CLIENT_ID_LENGTH
from oauth.registration.metadata import host_matches, registration_from_json
from oauth.services.clients import client_create, client_update

PURPOSE = "client-document"


class DocumentError(Exception):
    """Why the client's metadata document cannot be used; the message is for the user."""


def is_document_client_id(client_id: str | None) -> bool:
    return bool(client_id) and client_id.startswith("https://")


def _check_url(url: str, policy: RegistrationPolicy) -> str:
    """§3: https, a path, no fragment, no dot segments, no user info; and a host the
    tenant's policy allows."""
    if len(url) > MAX_CLIENT_ID_LENGTH:
        raise DocumentError(f"the client_id URL is longer than {MAX_CLIENT_ID_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise DocumentError("the client_id is not a valid URL") from None
    segments = parts.path.split("/")
    if (
        parts.scheme != "https"
        or not parts.hostname
        or parts.path in ("", "/")
        or parts.fragment
        or parts.username is not None
        or "." in segments
        or ".." in segments
    ):
        raise DocumentError(
            "the client_id URL must be https with a path, and no fragment, user name or "
            "dot segments"
        )
    if policy.documents == RegistrationPolicy.DocumentMode.HOSTS and not host_matches(
        parts.hostname, list(policy.document_hosts)
    ):
        raise DocumentError(f"this organisation does not accept clients from {parts.hostname}")
    return parts.hostname


def _apply(url: str, host: str, document: dict, policy: RegistrationPolicy) -> Client:
    if document.get("client_id") != url:
        raise DocumentError("the document's client_id is not the URL it is served from")
    try:
        registration = registration_from_json(
            {k: v for k, v in document.items() if k != "client_id"},
            policy=policy,
            default_name=host,
            public_only=True,
        )
    except OAuth2Error as error:
        raise DocumentError(f"the document is not valid: {error.description}") from None
    metadata = registration.metadata
    existing = Client.objects.filter(client_id=url).first()
    try:
        with transaction.atomic():
            if existing is None:
                client, _secret = client_create(metadata=metadata, client_id=url)
            else:
                if existing.disabled:
                    raise DocumentError("this organisation's admin has disabled the client")
                client = client_update(client=existing, metadata=metadata)
            client.registration = Client.Registration.DOCUMENT
            client.application_type = registration.application_type
            client.document_fetched_at = timezone.now()
            client.save()
    except ClientError as error:
        raise DocumentError(f"the document is not valid: {error.web}") from None
    except IntegrityError:  # another request registered it first
        client = Client.objects.get(client_id=url)
    return client


def document_client(client_id: str) -> Client:
    """The client whose metadata document is at ``client_id``, or ``DocumentError``.

    Within the document's cache lifetime no request is made and, when the stored client
    already matches, nothing is written."""
    policy = RegistrationPolicy.load()
    if policy.documents == RegistrationPolicy.DocumentMode.OFF:
        raise DocumentError("this organisation does not accept clients identified by a URL")
    host = _check_url(client_id, policy)
    try:
        fetched = fetch.fetch_json(client_id, purpose=PURPOSE)
    except fetch.FetchError as error:
        raise DocumentError(f"its metadata document could not be fetched: {error}") from None
    stored = Client.objects.filter(client_id=client_id).first()
    if (
        stored is not None
        and stored.document_fetched_at is not None
        and (timezone.now() - stored.document_fetched_at).total_seconds() < fetched.max_age
    ):
        if stored.disabled:
            raise DocumentError("this organisation's admin has disabled the client")
        return stored
    return _apply(client_id, host, fetched.document, policy)


def document_client_or_none(client_id: str) -> Client | None:
    """``document_client`` for the token endpoint's client lookup: None when it fails."""
    try:
        return document_client(client_id)
    except DocumentError:
        return None
