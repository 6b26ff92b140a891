"""Forms of the console's audit log page: the filter and the retention."""

from datetime import date

from django import forms

from kernel.audit.services import RETENTION_DAYS_MAX, RETENTION_DAYS_MIN

_EARLIEST, _LATEST = date(1900, 1, 1), date(9998, 12, 31)


def _date_field(label: str) -> forms.DateField:
    return forms.DateField(
        required=False,
        label=label,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


class AuditFilterForm(forms.Form):
    action = forms.CharField(
        max_length=64,
        required=False,
        label="Action",
        help_text="A family, such as security, or one action.",
    )
    actor = forms.CharField(max_length=200, required=False, label="Who")
    object_type = forms.CharField(max_length=64, required=False, label="Object type")
    object_id = forms.CharField(max_length=128, required=False, label="Object id")
    date_from = _date_field("From")
    date_to = _date_field("To")

    def _clean_day(self, name: str) -> date | None:
        day = self.cleaned_data.get(name)
        if day is not None and not _EARLIEST <= day <= _LATEST:
            raise forms.ValidationError("Enter a date between 1900 and 9998.")
        return day

    def clean_date_from(self):
        return self._clean_day("date_from")

    def clean_date_to(self):
        return self._clean_day("date_to")

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return data


class RetentionForm(forms.Form):
    retention_days = forms.IntegerField(
        min_value=RETENTION_DAYS_MIN,
        max_value=RETENTION_DAYS_MAX,
        label="Keep events for (days)",
        help_text=f"Between {RETENTION_DAYS_MIN} and {RETENTION_DAYS_MAX} days. Older events "
        "are deleted.",
    )
