"""OAuth storage, one module per concern. Tenant app: every table lives in each tenant schema."""

from oauth.models.branding import Branding
from oauth.models.clients import Client
from oauth.models.codes import AuthorizationCode, Consent
from oauth.models.devices import DeviceAuthorization
from oauth.models.keys import SigningKey
from oauth.models.logouts import BackchannelLogoutDelivery
from oauth.models.registration import InitialAccessToken, RegistrationPolicy
from oauth.models.sessions import SessionClient
from oauth.models.settings import IssuerSettings
from oauth.models.tokens import GrantFamily, Token

__all__ = [
    "AuthorizationCode",
    "BackchannelLogoutDelivery",
    "Branding",
    "Client",
    "Consent",
    "DeviceAuthorization",
    "GrantFamily",
    "InitialAccessToken",
    "IssuerSettings",
    "RegistrationPolicy",
    "SessionClient",
    "SigningKey",
    "Token",
]
