"""The tenant admin sets the MFA policy in the console; only staff may, only for their own
tenant, and the change is audited."""

import pytest

from tests.support.factories import make_user, post_form, signed_in

pytestmark = pytest.mark.django_db


def _admin(tenant):
    user = make_user(tenant)
    with tenant.context():
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


def test_an_admin_sets_the_policy_of_their_own_tenant(tenant_a, tenant_b):
    from kernel.audit.models import AuditEvent
    from oauth.mfa.selectors import policy_mode

    admin = _admin(tenant_a)
    web = signed_in(tenant_a, admin)
    page = web.get("/console/settings/mfa/")
    assert page.status_code == 200 and b'value="admins"' in page.content
    assert post_form(web, "/console/settings/mfa/", {"mode": "everyone"}).status_code == 302
    assert post_form(web, "/console/settings/mfa/", {"mode": "sometimes"}).status_code == 400
    with tenant_a.context():
        assert policy_mode() == "everyone"
        event = AuditEvent.objects.filter(action="mfa.policy_changed").latest("id")
        assert event.actor_id == str(admin.pk)
        assert event.changes == {"mode": {"old": "optional", "new": "everyone"}}
    with tenant_b.context():
        assert policy_mode() == "optional"


def test_a_user_who_is_not_an_admin_cannot(tenant):
    from oauth.mfa.selectors import policy_mode

    web = signed_in(tenant, make_user(tenant))
    assert post_form(web, "/console/settings/mfa/", {"mode": "off"}).status_code == 403
    with tenant.context():
        assert policy_mode() == "optional"
