"""Forms shared by every page that sets a password (the console, the reset page)."""

from django import forms


class SetPasswordForm(forms.Form):
    password = forms.CharField(
        label="New password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        max_length=1024,
        strip=False,
    )
    confirm = forms.CharField(
        label="The same password again",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        max_length=1024,
        strip=False,
    )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("confirm") and data["password"] != data["confirm"]:
            self.add_error("confirm", "The two passwords differ.")
        return data
