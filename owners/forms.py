from __future__ import annotations

from typing import Any

from django import forms

from mailboxes.account_forms import WebmailForm
from mailboxes.models import LANGUAGES
from webmail_settings.choices import DATE_FORMATS, TIME_FORMATS


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}), strip=False
    )
    new_password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), strip=False
    )
    new_password_again = forms.CharField(
        label="New password (again)",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        new, again = data.get("new_password"), data.get("new_password_again")
        if new and again and new != again:
            self.add_error("new_password_again", "The two passwords differ.")
        return data


class OwnerWebmailForm(WebmailForm):
    """The admin's Webmail tab without the address-book switch (the organization decides who
    is listed), and with the domain's defaults under each field."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        del self.fields["address_book_visible"]
        domain = self.mailbox.domain
        language = dict(LANGUAGES).get(domain.default_language, domain.default_language)
        # Domains have no date or time format of their own yet: those defaults are webmail's.
        defaults = {
            "language": f"Domain default: {language}",
            "time_zone": f"Domain default: {domain.default_time_zone}",
            "date_format": f"Domain default: {dict(DATE_FORMATS)[domain.default_date_format]}",
            "time_format": f"Domain default: {dict(TIME_FORMATS)[domain.default_time_format]}",
        }
        for name, text in defaults.items():
            self.fields[name].help_text = text

    def changes(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.fields}
