"""Forms of the console's user pages."""

from django import forms


class UserForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, max_length=256)
    staff = forms.BooleanField(required=False, label="May use this console")
