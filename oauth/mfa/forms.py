"""Forms of the MFA pages: a code, a re-confirmation, a passkey's name."""

from django import forms


class CodeForm(forms.Form):
    """A TOTP code (6 digits) or a recovery code (``xxxxx-xxxxx``)."""

    code = forms.CharField(max_length=32, strip=True)


class ConfirmForm(forms.Form):
    """Removing a factor needs the password or a current second factor again."""

    password = forms.CharField(
        max_length=4096, strip=False, required=False, widget=forms.PasswordInput
    )
    code = forms.CharField(max_length=32, strip=True, required=False)

    def clean(self):
        data = super().clean()
        if not data.get("password") and not data.get("code"):
            raise forms.ValidationError("Enter your password or a code from your app.")
        return data


class NameForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
