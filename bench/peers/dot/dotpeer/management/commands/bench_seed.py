"""Applications, a user, and pools of access tokens, refresh tokens and PKCE codes."""

import secrets
from datetime import timedelta

import seedkit
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken


class Command(BaseCommand):
    def add_arguments(self, parser):
        seedkit.add_arguments(parser)

    def handle(self, *args, **options):
        user = User.objects.create_user("alice", password=secrets.token_urlsafe(16))

        def app(name, grant_type, redirect=""):
            secret = secrets.token_urlsafe(24)
            a = Application.objects.create(
                name=name, user=user, client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=grant_type, client_secret=secret,
                redirect_uris=redirect, hash_client_secret=True,
            )  # fmt: skip
            return a, seedkit.basic(a.client_id, secret)

        cc, cc_auth = app("cc", Application.GRANT_CLIENT_CREDENTIALS)
        rs, rs_auth = app("rs", Application.GRANT_CLIENT_CREDENTIALS)
        web, web_auth = app("web", Application.GRANT_AUTHORIZATION_CODE, seedkit.REDIRECT_URI)
        expires = timezone.now() + timedelta(days=1)
        tokens = [seedkit.token() for _ in range(options["tokens"])]
        AccessToken.objects.bulk_create(
            AccessToken(user=user, application=cc, token=t, expires=expires, scope="api")
            for t in tokens
        )
        refresh = [seedkit.token() for _ in range(options["refresh"])]
        access = AccessToken.objects.bulk_create(
            AccessToken(user=user, application=web, token=seedkit.token(), expires=expires,
                        scope="api")
            for _ in refresh
        )  # fmt: skip
        RefreshToken.objects.bulk_create(
            RefreshToken(user=user, application=web, token=r, access_token=a)
            for r, a in zip(refresh, access, strict=True)
        )
        codes = [seedkit.token() for _ in range(options["codes"])]
        Grant.objects.bulk_create(
            Grant(user=user, application=web, code=c, expires=expires,
                  redirect_uri=seedkit.REDIRECT_URI, scope="api",
                  code_challenge=seedkit.CHALLENGE, code_challenge_method="S256")
            for c in codes
        )  # fmt: skip
        seedkit.write(
            options["out"],
            {
                "cc": cc_auth,
                "introspect": rs_auth,
                "refresh": web_auth,
                "pkce": web_auth,
                "redirect_uri": seedkit.REDIRECT_URI,
                "verifier": seedkit.VERIFIER,
            },
            {"tokens": tokens, "refresh": refresh, "codes": codes},
        )
