from django import forms

from tenants.console.forms.tenants import MAX_PAGE


class OperatorAuditFilterForm(forms.Form):
    action = forms.CharField(
        label="Action",
        required=False,
        max_length=64,
        help_text="A whole action (tenant.suspended) or a family (tenant, operator).",
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)

    def clean_action(self):
        return self.cleaned_data["action"].strip()
