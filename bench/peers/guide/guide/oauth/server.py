"""The AuthorizationServer of Authlib's Django guide and its grants: client_credentials,
authorization_code with PKCE (RFC 7636), refresh_token (rotating), and RFC 7662
introspection as Authlib's docs write them."""

from authlib.integrations.django_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from guide.oauth.models import AuthorizationCode, OAuth2Client, OAuth2Token

server = AuthorizationServer(OAuth2Client, OAuth2Token)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code, request):
        client = request.client
        item = AuthorizationCode(
            code=code,
            client_id=client.client_id,
            redirect_uri=request.payload.redirect_uri,
            response_type=request.payload.response_type,
            scope=request.payload.scope,
            user=request.user,
            code_challenge=request.payload.data.get("code_challenge"),
            code_challenge_method=request.payload.data.get("code_challenge_method"),
        )
        item.save()
        return item

    def query_authorization_code(self, code, client):
        try:
            item = AuthorizationCode.objects.get(code=code, client_id=client.client_id)
        except AuthorizationCode.DoesNotExist:
            return None
        if not item.is_expired():
            return item

    def delete_authorization_code(self, authorization_code):
        authorization_code.delete()

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class RefreshTokenGrant(grants.RefreshTokenGrant):
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        try:
            item = OAuth2Token.objects.get(refresh_token=refresh_token)
            if item.is_refresh_token_active():
                return item
        except OAuth2Token.DoesNotExist:
            return None

    def authenticate_user(self, credential):
        return credential.user

    def revoke_old_credential(self, credential):
        credential.revoked = True
        credential.save()


class MyIntrospectionEndpoint(IntrospectionEndpoint):
    def query_token(self, token, token_type_hint):
        if token_type_hint == "access_token":
            return OAuth2Token.objects.filter(access_token=token).first()
        if token_type_hint == "refresh_token":
            return OAuth2Token.objects.filter(refresh_token=token).first()
        return (
            OAuth2Token.objects.filter(access_token=token).first()
            or OAuth2Token.objects.filter(refresh_token=token).first()
        )

    def introspect_token(self, token):
        return {
            "active": True,
            "client_id": token.client_id,
            "token_type": token.token_type,
            "username": token.user.username,
            "scope": token.get_scope(),
            "sub": str(token.user_id),
            "aud": token.client_id,
            "iss": "https://guide.bench.test/",
            "exp": token.get_expires_at(),
            "iat": token.issued_at,
        }

    def check_permission(self, token, client, request):
        # The docs' example lets an internal client introspect; here: a client with the
        # "introspection" scope.
        return "introspection" in client.scope.split()


server.register_grant(grants.ClientCredentialsGrant)
server.register_grant(AuthorizationCodeGrant, [CodeChallenge(required=True)])
server.register_grant(RefreshTokenGrant)
server.register_endpoint(MyIntrospectionEndpoint)
