from django import forms


class SignupForm(forms.Form):
    name = forms.CharField(label="Organisation name", max_length=200)
    slug = forms.CharField(
        label="Subdomain",
        max_length=63,
        help_text="3-63 lowercase letters, digits and hyphens. Your issuer lives here.",
    )
    email = forms.EmailField(label="Your email (the first admin)", max_length=254)
    password = forms.CharField(label="Password", widget=forms.PasswordInput, max_length=256)
    password_again = forms.CharField(
        label="Password again", widget=forms.PasswordInput, max_length=256
    )

    def clean_slug(self):
        return self.cleaned_data["slug"].strip().lower()

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data
