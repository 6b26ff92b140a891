"""The console's form for the tenant's MFA policy."""

from django import forms

from oauth.mfa.models import MFAPolicy


class MFAPolicyForm(forms.Form):
    mode = forms.ChoiceField(
        choices=MFAPolicy.Mode.choices, widget=forms.RadioSelect, label="Second factors"
    )
