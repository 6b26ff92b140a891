"""Clients, a user, and pools of access tokens, refresh tokens and PKCE codes."""

import secrets
import time

import seedkit
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from guide.oauth.models import AuthorizationCode, OAuth2Client, OAuth2Token


class Command(BaseCommand):
    def add_arguments(self, parser):
        seedkit.add_arguments(parser)

    def handle(self, *args, **options):
        user = User.objects.create_user("alice", password=secrets.token_urlsafe(16))

        def client(name, grant_type, scope, redirect=""):
            c = OAuth2Client.objects.create(
                user=user,
                client_id=secrets.token_urlsafe(18),
                client_secret=secrets.token_urlsafe(24),
                client_name=name,
                grant_type=grant_type,
                scope=scope,
                response_type="code" if redirect else "",
                redirect_uris=redirect,
                default_redirect_uri=redirect,
                token_endpoint_auth_method="client_secret_basic",
            )
            return c, seedkit.basic(c.client_id, c.client_secret)

        cc, cc_auth = client("cc", "client_credentials", "api read")
        rs, rs_auth = client("rs", "client_credentials", "introspection")
        web, web_auth = client(
            "web", "authorization_code refresh_token", "api read", seedkit.REDIRECT_URI
        )
        now = int(time.time())
        tokens = [seedkit.token() for _ in range(options["tokens"])]
        OAuth2Token.objects.bulk_create(
            OAuth2Token(user=user, client_id=cc.client_id, token_type="Bearer",
                        access_token=t, refresh_token="", scope="api",
                        issued_at=now, expires_in=86400)
            for t in tokens
        )  # fmt: skip
        refresh = [seedkit.token() for _ in range(options["refresh"])]
        OAuth2Token.objects.bulk_create(
            OAuth2Token(user=user, client_id=web.client_id, token_type="Bearer",
                        access_token=seedkit.token(), refresh_token=r, scope="api",
                        issued_at=now, expires_in=86400)
            for r in refresh
        )  # fmt: skip
        codes = [seedkit.token() for _ in range(options["codes"])]
        AuthorizationCode.objects.bulk_create(
            AuthorizationCode(user=user, client_id=web.client_id, code=c,
                              redirect_uri=seedkit.REDIRECT_URI, response_type="code",
                              scope="api", auth_time=now + 3600,
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
