"""Sessions live in each tenant's schema; cookies are host-only."""

import pytest

pytestmark = pytest.mark.django_db


def test_session_cookie_of_tenant_a_is_anonymous_at_tenant_b(tenant_a, tenant_b):
    from django.conf import settings

    from kernel.accounts.models import User

    client_a = tenant_a.client()
    with tenant_a.context():
        client_a.force_login(User.objects.get(username=tenant_a.admin_username))
    assert b"Signed in as" in client_a.get("/").content

    session_id = client_a.cookies[settings.SESSION_COOKIE_NAME].value
    client_b = tenant_b.client()
    client_b.cookies[settings.SESSION_COOKIE_NAME] = session_id  # replayed by hand
    page = client_b.get("/")
    assert page.status_code == 200
    assert b"Signed in as" not in page.content


def test_session_and_csrf_cookies_are_host_only(public_client):
    """Set-Cookie carries no Domain attribute, so no cookie travels to another tenant host."""
    from django.conf import settings

    from kernel.accounts.services import user_create
    from tests.support.secrets import remember_secret

    password = remember_secret("operator-password-Q7w")
    user_create(username="op", password=password, is_staff=True, is_superuser=True)
    form = public_client.get("/operators/sign-in/")
    csrf = form.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["domain"] == "" and "Domain=" not in csrf.output()
    login = public_client.post(
        "/operators/sign-in/",
        {"username": "op", "password": password, "csrfmiddlewaretoken": csrf.value},
    )
    assert login.status_code == 302
    session = login.cookies[settings.SESSION_COOKIE_NAME]
    assert session.value and session["domain"] == "" and "Domain=" not in session.output()
    assert session["httponly"]
