"""RFC 7591 registration and RFC 7592 management routes of a tenant host."""

from django.urls import path, re_path

from oauth.registration import views

urlpatterns = [
    path("oauth/register", views.register, name="oauth-register"),
    # Any client_id, even one with a newline, reaches the view and is answered 401, not 404:
    # an unknown client and a wrong token must look the same (RFC 7592 §2.1).
    re_path(
        r"^oauth/register/(?P<client_id>[\s\S]*)\Z", views.manage, name="oauth-register-client"
    ),
]
