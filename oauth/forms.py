"""The login form of the tenant's sign-in page."""

from django import forms


class LoginForm(forms.Form):
    username = forms.CharField(max_length=150, strip=True)
    password = forms.CharField(max_length=4096, strip=False, widget=forms.PasswordInput)
    next = forms.CharField(max_length=20000, required=False, widget=forms.HiddenInput)
