"""Helpers of the live back-channel tests (test_live_backchannel, test_outbox): a client
with a back-channel logout URI, committed; the audit rows of one client and action."""

from __future__ import annotations

from tests.support.factories import REDIRECT_URI, make_web_client


def bcl_client(commit, tenant, uri: str, **options):
    """A confidential code-flow client of ``tenant`` whose ``backchannel_logout_uri`` is
    ``uri``, committed so the live server and the worker see it."""
    with commit(tenant):
        return make_web_client(
            tenant,
            redirect_uris=[REDIRECT_URI],
            scopes=["openid"],
            backchannel_logout_uri=uri,
            **options,
        )


def audited(commit, tenant, client, action: str) -> list[dict]:
    """The ``changes`` of ``tenant``'s audit rows for ``client`` and ``action``, oldest first."""
    from kernel.audit.models import AuditEvent

    with commit(tenant):
        return list(
            AuditEvent.objects.filter(action=action, object_id=client.client_id)
            .order_by("created_at")
            .values_list("changes", flat=True)
        )
