"""RFC 7591 registration and RFC 7592 management routes of a tenant host."""

from django.urls import path

from oauth.registration import views

urlpatterns = [
    path("oauth/register", views.register, name="oauth-register"),
    path("oauth/register/<str:client_id>", views.manage, name="oauth-register-client"),
]
