from django.urls import path
from noop import noop

from guide.oauth import views

urlpatterns = [
    path("oauth/token", views.issue_token),
    path("oauth/introspect", views.introspect_token),
    path("noop", noop),
]
