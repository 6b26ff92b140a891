from django.urls import include, path
from noop import noop

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("noop", noop),
]
