from __future__ import annotations

from django import forms

from domains.validators import normalize_domain_name


class DomainActivateForm(forms.Form):
    name = forms.CharField(
        label="Domain name",
        max_length=253,
        help_text="For example example.com; internationalised names are accepted.",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )

    def clean_name(self) -> str:
        return normalize_domain_name(self.cleaned_data["name"])
