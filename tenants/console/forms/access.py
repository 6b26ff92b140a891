from django import forms
from django.contrib.auth.forms import AuthenticationForm


class OperatorSignInForm(AuthenticationForm):
    """Django's sign-in form for the public schema's users, refusing all but operators
    (staff) with the same words as a wrong password, so it tells nobody which accounts exist."""

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise self.get_invalid_login_error()


class OperatorCodeForm(forms.Form):
    """A TOTP code (6 digits) or a recovery code, as typed."""

    code = forms.CharField(
        label="Code from your authenticator app, or a recovery code",
        max_length=64,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"}),
    )
