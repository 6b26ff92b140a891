"""Forms of the console's Registration page: the policy and initial access tokens."""

from django import forms

from oauth.client_metadata import scope_token_valid
from oauth.grant_types import GRANT_TYPES
from oauth.models import RegistrationPolicy
from oauth.registration.metadata import REDIRECT_SCHEMES

_HOST_HELP = "Separated by spaces; .example.com allows every host below it."


def _words(value: str) -> list[str]:
    return list(dict.fromkeys(value.split()))


def _hosts(value: str, field: str) -> list[str]:
    hosts = [h.lower() for h in _words(value)]
    for host in hosts:
        bare = host.lstrip(".")
        if not bare or len(host) > 253 or any(c in host for c in "/:@?#"):
            raise forms.ValidationError(f"“{host[:60]}” is not a host name ({field}).")
    return hosts


class RegistrationPolicyForm(forms.Form):
    """Who may register clients here, and what they may ask for."""

    mode = forms.ChoiceField(
        label="Dynamic client registration (RFC 7591)",
        choices=RegistrationPolicy.Mode.choices,
        widget=forms.RadioSelect,
    )
    allowed_grant_types = forms.MultipleChoiceField(
        label="Grant types self-registered clients may use",
        choices=[(g, g) for g in GRANT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    allowed_redirect_schemes = forms.MultipleChoiceField(
        label="Redirect URIs they may use",
        choices=[
            ("https", "https"),
            ("http", "http on loopback (127.0.0.1, [::1]) for apps on the user's device"),
            ("private-use", "an app's private-use scheme (com.example.app:/cb)"),
        ],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    allowed_redirect_hosts = forms.CharField(
        label="Redirect URI hosts",
        required=False,
        max_length=4000,
        help_text=f"{_HOST_HELP} Empty: any host.",
    )
    resources = forms.CharField(
        label="Resources (MCP servers) they may ask tokens for",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=(
            "Absolute URIs separated by spaces, e.g. https://mcp.example.com/mcp. Each token "
            "is bound to the one resource its authorization named (RFC 8707)."
        ),
    )
    clients_per_hour = forms.IntegerField(
        label="Clients registered per hour (at most)", min_value=1, max_value=100_000
    )
    clients_per_ip_per_hour = forms.IntegerField(
        label="Clients registered per hour from one address (at most)",
        min_value=1,
        max_value=100_000,
    )
    documents = forms.ChoiceField(
        label="Client ID Metadata Documents (a client_id that is an https URL)",
        choices=RegistrationPolicy.DocumentMode.choices,
        widget=forms.RadioSelect,
    )
    document_hosts = forms.CharField(
        label="Hosts whose documents are accepted",
        required=False,
        max_length=4000,
        help_text=_HOST_HELP,
    )

    def clean_allowed_redirect_hosts(self) -> list[str]:
        return _hosts(self.cleaned_data["allowed_redirect_hosts"], "redirect URI hosts")

    def clean_document_hosts(self) -> list[str]:
        return _hosts(self.cleaned_data["document_hosts"], "document hosts")

    def clean_allowed_redirect_schemes(self) -> list[str]:
        return [s for s in self.cleaned_data["allowed_redirect_schemes"] if s in REDIRECT_SCHEMES]

    def clean_resources(self) -> list[str]:
        resources = _words(self.cleaned_data["resources"])
        for resource in resources:
            if not resource.startswith("https://") or "#" in resource or len(resource) > 500:
                raise forms.ValidationError(
                    f"“{resource[:60]}” is not an https URI without a fragment."
                )
        return resources

    def clean(self):
        data = super().clean()
        if data.get("documents") == RegistrationPolicy.DocumentMode.HOSTS and not data.get(
            "document_hosts"
        ):
            self.add_error("document_hosts", "List at least one host, or accept any host.")
        return data


class InitialAccessTokenForm(forms.Form):
    """An initial access token to hand to a developer (RFC 7591 §3)."""

    label = forms.CharField(label="What it is for", max_length=200, required=False)
    expires_in_hours = forms.IntegerField(
        label="Expires in (hours)", min_value=1, max_value=24 * 365, initial=24
    )
    uses = forms.IntegerField(
        label="Clients it may register", min_value=1, max_value=10_000, initial=1
    )
    scopes = forms.CharField(
        label="Scopes it allows",
        required=False,
        max_length=2000,
        help_text="Separated by spaces; empty: the organisation's allowed scopes.",
    )
    redirect_hosts = forms.CharField(
        label="Redirect URI hosts it allows",
        required=False,
        max_length=2000,
        help_text=f"{_HOST_HELP} Empty: as the policy allows.",
    )

    def clean_scopes(self) -> list[str]:
        scopes = _words(self.cleaned_data["scopes"])
        bad = [s for s in scopes if not scope_token_valid(s)]
        if bad:
            raise forms.ValidationError(f"“{bad[0][:40]}” is not a valid scope.")
        return scopes

    def clean_redirect_hosts(self) -> list[str]:
        return _hosts(self.cleaned_data["redirect_hosts"], "redirect URI hosts")
