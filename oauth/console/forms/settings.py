"""Forms of the console's settings page: the issuer policy and the branding."""

from django import forms

from oauth.branding import LOGO_MAX_BYTES, logo_content_type
from oauth.client_metadata import scope_token_valid
from oauth.models import Client
from oauth.models.branding import HEX_COLOUR
from oauth.selectors import clients_using_scopes

_DAY = 86400


def _seconds(label: str, *, minimum: int, maximum: int, help_text: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label, min_value=minimum, max_value=maximum, help_text=help_text
    )


class IssuerSettingsForm(forms.Form):
    """The tenant's token policy; bounds keep every value one the server can honour."""

    access_token_lifetime = _seconds(
        "Access token lifetime (seconds)",
        minimum=60,
        maximum=_DAY,
        help_text="60 seconds to 1 day; clients may override it.",
    )
    refresh_token_lifetime = _seconds(
        "Refresh token lifetime (seconds)",
        minimum=60,
        maximum=365 * _DAY,
        help_text="60 seconds to 1 year.",
    )
    authorization_code_lifetime = _seconds(
        "Authorization code lifetime (seconds)",
        minimum=10,
        maximum=600,
        help_text="10 to 600 seconds (RFC 6749 recommends at most 10 minutes).",
    )
    refresh_reuse_window = _seconds(
        "Refresh concurrency window (seconds)",
        minimum=0,
        maximum=60,
        help_text=(
            "A refresh token used again within this many seconds of its rotation is treated "
            "as a race, not as theft. 0 = strict."
        ),
    )
    jwks_max_age = _seconds(
        "JWKS cache time (seconds)",
        minimum=60,
        maximum=7 * _DAY,
        help_text=(
            "How long relying parties may cache your public keys; a new signing key waits "
            "this long before it signs."
        ),
    )
    default_access_token_format = forms.ChoiceField(
        label="Default access token format",
        choices=Client.AccessTokenFormat.choices,
        help_text="For clients registered without choosing one.",
    )
    require_pushed_authorization_requests = forms.BooleanField(
        label="Require PAR for every client",
        required=False,
        help_text=(
            "Authorization requests must be pushed to /oauth/par first (RFC 9126); plain "
            "requests are refused."
        ),
    )
    security_profile = forms.ChoiceField(
        label="Security profile",
        required=False,
        choices=[
            ("", "None (OAuth 2.0 and OpenID Connect)"),
            ("fapi2", "FAPI 2.0 Security Profile"),
        ],
        help_text=(
            "FAPI 2.0: every client must be confidential and use private_key_jwt, pushed "
            "authorization requests and DPoP; codes live at most 60 s; tokens are signed "
            "PS256 or ES256. Clients registered otherwise stop getting tokens."
        ),
    )
    scopes_supported = forms.CharField(
        label="Allowed scopes",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            "Separated by spaces. Clients may be registered only for these. Leave empty to "
            "allow any scope."
        ),
    )

    dpop_nonce_required = forms.BooleanField(
        label="DPoP proofs need a server nonce",
        required=False,
        help_text=(
            "Clients using DPoP (RFC 9449) must first fetch a nonce from a DPoP-Nonce header "
            "and put it in their proofs: a proof made in advance is refused."
        ),
    )

    def clean_scopes_supported(self) -> list[str]:
        scopes = list(dict.fromkeys(self.cleaned_data["scopes_supported"].split()))
        bad = [s for s in scopes if not scope_token_valid(s)]
        if bad:
            raise forms.ValidationError(
                f"“{bad[0][:40]}” is not a valid scope: use letters, digits and punctuation "
                "other than quotes and backslashes, no spaces."
            )
        if len(scopes) > 200:
            raise forms.ValidationError("At most 200 scopes.")
        if scopes:
            used = clients_using_scopes(exclude=scopes)
            if used:
                scope, names = next(iter(used.items()))
                raise forms.ValidationError(
                    f"“{scope}” is used by {', '.join(names[:3])}"
                    f"{' and others' if len(names) > 3 else ''}. Remove it from those clients "
                    "first, or keep it allowed."
                )
        return scopes


class BrandingForm(forms.Form):
    """How the sign-in, consent, sign-out and error pages look."""

    display_name = forms.CharField(
        label="Display name",
        max_length=100,
        required=False,
        help_text="Shown above the sign-in form; empty shows none.",
    )
    primary_colour = forms.CharField(
        label="Primary colour",
        max_length=7,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "#1e66f5", "pattern": "#[0-9a-fA-F]{6}"}),
        help_text="# and six hex digits, e.g. #1e66f5; empty uses the standard colour.",
    )
    logo = forms.FileField(
        label="Logo",
        required=False,
        help_text=f"PNG, JPEG or WebP, at most {LOGO_MAX_BYTES // 1024} KB.",
    )
    remove_logo = forms.BooleanField(label="Remove the logo", required=False)

    def clean_primary_colour(self) -> str:
        colour = self.cleaned_data["primary_colour"].strip().lower()
        if colour and not HEX_COLOUR.regex.match(colour):
            raise forms.ValidationError("Enter a colour as # and six hex digits, e.g. #1e66f5.")
        return colour

    def clean_logo(self) -> bytes | None:
        upload = self.cleaned_data.get("logo")
        if not upload:
            return None
        if upload.size > LOGO_MAX_BYTES:
            raise forms.ValidationError(
                f"This file is {upload.size // 1024} KB; the logo may be at most "
                f"{LOGO_MAX_BYTES // 1024} KB."
            )
        data = upload.read(LOGO_MAX_BYTES + 1)
        if len(data) > LOGO_MAX_BYTES or logo_content_type(data) is None:
            raise forms.ValidationError(
                "This file is not a PNG, JPEG or WebP image. SVG is not accepted."
            )
        return data


class AccountSettingsForm(forms.Form):
    """The tenant's account policy (``kernel.accounts.models.AccountPolicy``)."""

    email_sender_name = forms.CharField(
        label="Sender name of mails",
        max_length=100,
        required=False,
        help_text="The name reset and verification mails come from; empty uses the display "
        "name, then the tenant's name.",
    )
    email_verification_required = forms.BooleanField(
        label="Users must confirm their email address before they can sign in",
        required=False,
        help_text="Users without a confirmed address are offered a new link when they sign in.",
    )
