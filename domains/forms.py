from __future__ import annotations

from typing import Any

from django import forms

from domains.models import Domain
from domains.services import PASSWORD_EXPIRY_MAX_DAYS, PASSWORD_MIN_LENGTH_RANGE
from domains.validators import normalize_domain_name
from mailboxes.models import LANGUAGES
from mailboxes.rules import DOMAIN_LIMIT_FIELDS, SENDING_LIMITS
from mailboxes.validators import available_timezones, format_size, normalize_address, parse_size
from tempusmail.forms import sending_limit_field
from webmail_settings.choices import DATE_FORMATS, TIME_FORMATS


class DomainActivateForm(forms.Form):
    name = forms.CharField(
        label="Domain name",
        max_length=253,
        help_text="For example example.com; internationalised names are accepted.",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )

    def clean_name(self) -> str:
        return normalize_domain_name(self.cleaned_data["name"])


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(zone, zone) for zone in sorted(available_timezones())]


class DomainSettingsForm(forms.Form):
    """The Settings tab. Field names are the Domain fields, so service errors land on them."""

    default_quota_bytes = forms.CharField(
        label="Storage quota",
        max_length=20,
        help_text="For example 500M or 2G; 0 means unlimited.",
    )
    default_language = forms.ChoiceField(label="Language", choices=LANGUAGES)
    default_time_zone = forms.ChoiceField(label="Time zone", choices=_time_zone_choices)
    password_min_length = forms.IntegerField(
        label="Minimum password length",
        min_value=PASSWORD_MIN_LENGTH_RANGE[0],
        max_value=PASSWORD_MIN_LENGTH_RANGE[1],
        help_text="Characters; at least 8.",
        error_messages={
            "min_value": "Passwords must be at least %(limit_value)s characters.",
            "max_value": "At most %(limit_value)s characters.",
        },
    )
    password_expiry_days = forms.IntegerField(
        label="Passwords expire after (days)",
        required=False,
        min_value=1,
        max_value=PASSWORD_EXPIRY_MAX_DAYS,
        help_text="Leave empty: passwords never expire.",
        error_messages={
            "min_value": "At least %(limit_value)s day, or leave empty: never.",
            "max_value": "At most %(limit_value)s days, or leave empty: never.",
        },
    )
    force_2fa = forms.BooleanField(
        label="Require two-factor authentication",
        required=False,
        help_text="New accounts must set up a second factor (a one-time code app).",
    )
    default_address_book_visible = forms.BooleanField(
        label="List accounts in the company address book",
        required=False,
        help_text="For accounts whose own setting was never saved; an account's own choice "
        "(its Webmail tab) wins.",
    )
    # Not required: a post without them (an older form, a script) keeps what is set.
    default_date_format = forms.ChoiceField(
        label="Date format", choices=DATE_FORMATS, required=False
    )
    default_time_format = forms.ChoiceField(
        label="Time format", choices=TIME_FORMATS, required=False
    )
    catchall_target = forms.CharField(
        label="Catch-all target",
        required=False,
        max_length=254,
        help_text="An account of this domain that receives mail sent to unknown addresses. "
        "Leave empty to refuse such mail.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    default_daily_send_limit = sending_limit_field("Messages per day")
    default_hourly_send_limit = sending_limit_field("Messages per hour")
    default_max_recipients = sending_limit_field("Recipients per message")

    def __init__(self, *args: Any, domain: Domain, **kwargs: Any) -> None:
        kwargs.setdefault("initial", self.initial_for(domain))
        super().__init__(*args, **kwargs)
        self.domain = domain
        plan = domain.organization.plan
        for limit in SENDING_LIMITS:
            maximum = getattr(plan, limit.max_field) if plan is not None else None
            self.fields[limit.default_field].help_text = (
                f"The {plan.name} plan allows up to {maximum:,}; empty: that maximum."
                if plan is not None and maximum
                else "0 or empty: no limit."
            )
        if plan is not None and plan.max_quota_bytes is not None:
            largest = f"{format_size(plan.max_quota_bytes)} ({plan.name} plan)"
            self.fields["default_quota_bytes"].help_text = f"For example 2G; at most {largest}."
        self.fields["catchall_target"].widget.attrs["placeholder"] = f"info@{domain.display_name}"

    @staticmethod
    def initial_for(domain: Domain) -> dict[str, Any]:
        quota = domain.default_quota_bytes
        return {
            "default_quota_bytes": format_size(quota) if quota else "0",
            "default_language": domain.default_language,
            "default_time_zone": domain.default_time_zone,
            "password_min_length": domain.password_min_length,
            "password_expiry_days": domain.password_expiry_days,
            "force_2fa": domain.force_2fa,
            "default_address_book_visible": domain.default_address_book_visible,
            "default_date_format": domain.default_date_format,
            "default_time_format": domain.default_time_format,
            "catchall_target": domain.catchall_target,
            **{f: getattr(domain, f) for f in DOMAIN_LIMIT_FIELDS},
        }

    def clean_default_date_format(self) -> str:
        return self.cleaned_data["default_date_format"] or self.domain.default_date_format

    def clean_default_time_format(self) -> str:
        return self.cleaned_data["default_time_format"] or self.domain.default_time_format

    def clean_default_quota_bytes(self) -> int:
        value = self.cleaned_data["default_quota_bytes"].strip()
        return 0 if value.lower() == "unlimited" else parse_size(value)

    def clean_catchall_target(self) -> str:
        value = self.cleaned_data["catchall_target"].strip()
        return normalize_address(value) if value else ""
