"""Forms of the console's user pages."""

from django import forms

from kernel.accounts.forms import SetPasswordForm

__all__ = ["SetPasswordForm", "UserEditForm", "UserForm"]


class UserForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, max_length=256)
    staff = forms.BooleanField(required=False, label="May use this console")


class UserEditForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False, max_length=254)
    email_verified = forms.BooleanField(required=False, label="Email address verified")
    is_staff = forms.BooleanField(required=False, label="Admin (may use this console)")

    @classmethod
    def for_user(cls, user, data=None) -> "UserEditForm":
        initial = {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "email_verified": user.email_verified,
            "is_staff": user.is_staff,
        }
        return cls(data, initial=initial)
