"""Forms of the key pages: they validate input for api.services and never save."""

from __future__ import annotations

from typing import Any

from django import forms

from domains.models import Domain
from organizations.models import Organization
from tempusmail.forms import typed_field


class PersonalKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses the key, e.g. “backup script”.")
    read_only = forms.BooleanField(
        label="Read-only", required=False, help_text="The key may read but not change anything."
    )
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key works through this day (UTC). Empty: until revoked.",
    )
    allowed_networks = forms.CharField(
        label="Allowed networks",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Addresses or networks (CIDR), one per line. Empty: from anywhere.",
    )


class OrganizationKeyForm(PersonalKeyForm):
    domains = forms.ModelMultipleChoiceField(
        queryset=Domain.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Empty: every domain of the organization, including future ones.",
    )

    field_order = ["name", "domains", "read_only", "expires_on", "allowed_networks"]

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        domains = typed_field(self, "domains", forms.ModelMultipleChoiceField)
        domains.queryset = organization.domains.order_by("name")
