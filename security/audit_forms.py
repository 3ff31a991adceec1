"""The audit pages' filters: actor, action and a date range in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms

from security.audit_selectors import AuditFilters

DATE_FORMAT = "%Y-%m-%d"
DATE_ERROR = "Enter a date as YYYY-MM-DD (UTC)."


def _date_field(label: str) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        input_formats=[DATE_FORMAT],
        error_messages={"invalid": DATE_ERROR},
        # A text box, not type=date: it shows a wrong value back next to its error, in the
        # format the error asks for, whatever the browser's locale.
        widget=forms.DateInput(
            attrs={"placeholder": "YYYY-MM-DD", "maxlength": 10, "inputmode": "numeric"},
            format=DATE_FORMAT,
        ),
    )


class AuditFilterForm(forms.Form):
    actor = forms.CharField(
        required=False,
        max_length=200,
        help_text="As shown in the Actor column.",
        widget=forms.TextInput(attrs={"placeholder": "Any actor"}),
    )
    action = forms.CharField(
        required=False,
        max_length=100,
        help_text="mailbox.update, or mailbox for every account action.",
        widget=forms.TextInput(attrs={"placeholder": "Any action"}),
    )
    since = _date_field("From (UTC)")
    until = _date_field("To (UTC)")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def filters(self) -> AuditFilters:
        """The valid form as filters: whole UTC days, both ends included."""
        data = self.cleaned_data
        until: date | None = data["until"]
        return AuditFilters(
            actor=data["actor"],
            action=data["action"],
            since=_start_of(data["since"]) if data["since"] else None,
            # The day after the last one, unless there is none (9999-12-31: no upper bound).
            until=_start_of(until + timedelta(days=1)) if until and until < date.max else None,
        )

    @property
    def is_filtering(self) -> bool:
        return any(self.data.get(name) for name in self.fields)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
