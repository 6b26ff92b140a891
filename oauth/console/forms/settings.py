"""Forms of the console's settings page: the issuer policy and the branding."""

from django import forms

from oauth.client_metadata import scope_token_valid
from oauth.models import Client
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
