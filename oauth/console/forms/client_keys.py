"""Console fields of client authentication by assertion (RFC 7523 §2.2, OIDC Core §9) and of
the security profile: the client's keys (``jwks`` pasted as JSON, or ``jwks_uri``), the alg
of its assertions, and FAPI 2.0. Shared by the register and the edit form; what the values
may be is ``ClientMetadata``'s to say."""

from __future__ import annotations

import json

from django import forms

from oauth.algs import ASYMMETRIC_ALGS
from oauth.models import Client

MAX_JWKS_TEXT = 20_000


class ClientKeysFields(forms.Form):
    """Mixed into the client forms; ``keys_arguments()`` gives the ``ClientMetadata``
    arguments."""

    jwks = forms.CharField(
        label="Public keys (JWK Set, JSON)",
        required=False,
        max_length=MAX_JWKS_TEXT,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text='for private_key_jwt: {"keys": [...]}, public keys only; or a JWKS URL below',
    )
    jwks_uri = forms.URLField(
        label="Public keys URL (jwks_uri)",
        required=False,
        max_length=2000,
        assume_scheme="https",
        help_text="https URL of the client's JWK Set, fetched and cached",
    )
    token_endpoint_auth_signing_alg = forms.ChoiceField(
        label="Assertion signing algorithm",
        required=False,
        choices=[
            ("", "any its profile allows"),
            *[(a, a) for a in ASYMMETRIC_ALGS],
            ("HS256", "HS256"),
        ],
        help_text="HS256 for client_secret_jwt; an asymmetric alg for private_key_jwt",
    )
    security_profile = forms.ChoiceField(
        label="Security profile",
        required=False,
        choices=Client.SecurityProfile.choices,
        help_text="FAPI 2.0: private_key_jwt, PAR and DPoP required, PS256/ES256 tokens",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ClientKeysFields.base_fields:  # after the form's own fields
            self.fields[name] = self.fields.pop(name)

    def clean_jwks(self) -> dict | None:
        text = self.cleaned_data["jwks"].strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            raise forms.ValidationError('Paste a JWK Set as JSON: {"keys": [...]}.') from None
        if not isinstance(value, dict):
            raise forms.ValidationError('A JWK Set is a JSON object: {"keys": [...]}.')
        return value

    def keys_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "jwks": data["jwks"],
            "jwks_uri": data["jwks_uri"],
            "token_endpoint_auth_signing_alg": data["token_endpoint_auth_signing_alg"],
            "security_profile": data["security_profile"],
        }

    @staticmethod
    def keys_initial(client: Client) -> dict:
        return {
            "jwks": json.dumps(client.jwks, indent=2) if client.jwks else "",
            "jwks_uri": client.jwks_uri,
            "token_endpoint_auth_signing_alg": client.token_endpoint_auth_signing_alg,
            "security_profile": client.security_profile,
        }
