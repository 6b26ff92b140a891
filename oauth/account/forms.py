"""Forms of the account pages."""

from django import forms

from kernel.accounts.forms import SetPasswordForm


class ProfileForm(forms.Form):
    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        required=False,
        help_text="A new address must be confirmed: we send a link to it.",
    )


class ChangePasswordForm(SetPasswordForm):
    current_password = forms.CharField(
        label="Current password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        max_length=1024,
        strip=False,
    )
    field_order = ["current_password", "password", "confirm"]


class ForgotPasswordForm(forms.Form):
    identifier = forms.CharField(
        label="Email address or user name",
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
