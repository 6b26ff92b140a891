"""Forms of the console's client pages."""

from django import forms

from oauth.models import Client


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


class ClientForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(
        choices=[
            ("web", "Web application (confidential, authorization code + refresh)"),
            ("spa", "Browser or native app (public, PKCE, authorization code + refresh)"),
            ("service", "Machine to machine (confidential, client credentials)"),
        ]
    )
    redirect_uris = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="one per line"
    )
    scopes = forms.CharField(
        required=False, max_length=2000, help_text="space-separated, e.g. openid profile email api"
    )
    can_introspect = forms.BooleanField(required=False, label="Resource server (may introspect)")

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        kind = data["kind"]
        grant_types = (
            ["client_credentials"] if kind == "service" else ["authorization_code", "refresh_token"]
        )
        return {
            "name": data["name"],
            "grant_types": grant_types,
            "redirect_uris": _lines(data["redirect_uris"]),
            "scopes": data["scopes"].split(),
            "auth_method": Client.AuthMethod.NONE if kind == "spa" else Client.AuthMethod.BASIC,
            "can_introspect": data["can_introspect"],
        }
