"""The wizard's steps and one form per step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from domains.models import Domain
from domains.services import PASSWORD_EXPIRY_MAX_DAYS
from mailboxes.models import Mailbox
from mailboxes.passwords import check_new_password
from mailboxes.rules import SERVICE_OFFERS, undeliverable_local_addresses
from mailboxes.validators import (
    MAX_FORWARDS,
    format_size,
    normalize_local_part,
    parse_address_list,
    parse_networks,
    parse_size,
)
from organizations.models import Plan
from tempusmail.validators import validate_one_line


@dataclass(frozen=True)
class Step:
    slug: str
    title: str


STEPS = (
    Step("account", "New account"),
    Step("services", "Services"),
    Step("security", "Security"),
    Step("options", "Options"),
)
STEP_SLUGS = tuple(step.slug for step in STEPS)
SUMMARY = len(STEPS)  # the summary's position after the steps

# The one checkbox for POP / IMAP / SMTP sets these fields together.
MAIL_ACCESS_FIELDS = ("imap_enabled", "pop3_enabled", "smtp_enabled", "sieve_enabled")


# --- the step forms ----------------------------------------------------------------------


class AccountStepForm(forms.Form):
    first_name = forms.CharField(
        label="Name / description",
        max_length=150,
        required=False,
        help_text="The user's first name, or a description such as “Sales Dept”.",
        validators=[validate_one_line],  # mailbox_create checks it too, but only at the end
    )
    last_name = forms.CharField(
        label="Last name", max_length=150, required=False, validators=[validate_one_line]
    )
    local_part = forms.CharField(
        label="Email address",
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    password1 = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Repeat the password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, domain: Domain, has_password: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.domain = domain
        self.has_password = has_password
        help_text = f"At least {self.min_password_length} characters."
        if has_password:
            help_text += " A password is already chosen: leave both empty to keep it."
        self.fields["password1"].help_text = help_text

    @property
    def min_password_length(self) -> int:
        return max(self.domain.password_min_length, 8)

    def clean_local_part(self) -> str:
        local_part = normalize_local_part(self.cleaned_data["local_part"])
        if Mailbox.objects.filter(domain=self.domain, local_part=local_part).exists():
            raise ValidationError(f"{local_part}@{self.domain.display_name} already exists.")
        return local_part

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        first, second = data.get("password1", ""), data.get("password2", "")
        data["password"] = None  # keep the password already chosen
        if not first and not second:
            if not self.has_password:
                self.add_error("password1", "Enter a password, or generate one.")
        elif first != second:
            self.add_error("password2", "The two passwords differ.")
        else:
            try:
                check_new_password(
                    first,
                    domain=self.domain,
                    local_part=data.get("local_part", ""),
                    names=(data.get("first_name", ""), data.get("last_name", "")),
                )
            except ValidationError as exc:
                self.add_error("password1", exc)
            else:
                data["password"] = first
        return data


def _offered(plan: Plan | None, field: str) -> bool:
    return plan is None or bool(getattr(plan, SERVICE_OFFERS[field]))


class ServicesStepForm(forms.Form):
    quota = forms.CharField(label="Storage capacity", max_length=20)
    mail_access = forms.BooleanField(label="POP / IMAP / SMTP access", required=False)
    webmail_enabled = forms.BooleanField(label="Webmail access", required=False)
    activesync_enabled = forms.BooleanField(label="Microsoft® Exchange ActiveSync", required=False)
    dav_enabled = forms.BooleanField(label="DAV access (calendars, contacts)", required=False)

    # Which model field decides whether the plan offers each checkbox.
    OFFER_FIELD = {
        "mail_access": "imap_enabled",
        "webmail_enabled": "webmail_enabled",
        "activesync_enabled": "activesync_enabled",
        "dav_enabled": "dav_enabled",
    }

    def __init__(self, *args: Any, domain: Domain, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plan: Plan | None = domain.organization.plan
        limit = self.plan.max_quota_bytes if self.plan else None
        quota_help = "For example 500M or 2G."
        if limit is not None:
            quota_help += f" The plan allows at most {format_size(limit)} per account."
        else:
            quota_help += " 0 means unlimited."
        self.fields["quota"].help_text = quota_help
        for name, model_field in self.OFFER_FIELD.items():
            if not _offered(self.plan, model_field):
                field = self.fields[name]
                field.widget.attrs["disabled"] = True
                field.help_text = "Not part of the organization's plan."

    @classmethod
    def defaults(cls, domain: Domain) -> dict[str, Any]:
        plan = domain.organization.plan
        return {
            "quota": format_size(domain.default_quota_bytes),
            "mail_access": _offered(plan, "imap_enabled"),
            "webmail_enabled": _offered(plan, "webmail_enabled"),
            "activesync_enabled": False,
            "dav_enabled": False,
        }

    def offered(self, name: str) -> bool:
        return _offered(self.plan, self.OFFER_FIELD[name])

    def clean_quota(self) -> int:
        quota = parse_size(self.cleaned_data["quota"])
        limit = self.plan.max_quota_bytes if self.plan else None
        if limit is not None and (quota == 0 or quota > limit):
            raise ValidationError(f"The plan allows at most {format_size(limit)} per account.")
        return quota

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        # The checkbox is disabled in the page; a value posted anyway is refused here (and
        # by the service at confirm).
        for name in self.OFFER_FIELD:
            if data.get(name) and not self.offered(name):
                plan_name = self.plan.name if self.plan else ""
                self.add_error(name, f"Not part of the organization's plan ({plan_name}).")
        return data


class SecurityStepForm(forms.Form):
    force_password_change = forms.BooleanField(
        label="Force a password change at the first login", required=False
    )
    password_expiry_days = forms.IntegerField(
        label="Password expires after (days)",
        required=False,
        min_value=1,
        max_value=PASSWORD_EXPIRY_MAX_DAYS,
        help_text="Leave empty: the password never expires.",
    )
    force_2fa = forms.BooleanField(label="Force two-factor authentication (OTP)", required=False)
    allowed_networks = forms.CharField(
        label="IP restrictions",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="Trusted addresses or networks, one per line (e.g. 192.0.2.0/24). "
        "Empty: no restriction.",
    )
    api_access = forms.BooleanField(label="API access", required=False)

    @classmethod
    def defaults(cls, domain: Domain) -> dict[str, Any]:
        return {
            "force_password_change": False,
            "password_expiry_days": domain.password_expiry_days,
            "force_2fa": domain.force_2fa,
            "allowed_networks": "",
            "api_access": False,
        }

    def clean_allowed_networks(self) -> list[str]:
        return parse_networks(self.cleaned_data["allowed_networks"])


class OptionsStepForm(forms.Form):
    forward_to = forms.CharField(
        label="Forward to",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=f"Up to {MAX_FORWARDS} addresses, one per line. Empty: no forwarding.",
    )
    forward_keep_copy = forms.BooleanField(
        label="Keep a copy in this account when forwarding", required=False
    )
    spam_to_inbox = forms.BooleanField(label="Deliver spam to the inbox", required=False)

    def __init__(self, *args: Any, address: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address = address

    @classmethod
    def defaults(cls, domain: Domain) -> dict[str, Any]:
        return {"forward_to": "", "forward_keep_copy": True, "spam_to_inbox": False}

    def clean_forward_to(self) -> list[str]:
        addresses = parse_address_list(self.cleaned_data["forward_to"])
        if self.address in addresses:
            raise ValidationError("An account cannot forward to itself.")
        if problems := undeliverable_local_addresses(addresses):
            raise ValidationError(problems)
        return addresses


# Where each error key of mailbox_create belongs: (step, form field). Anything else is shown
# on the summary.
SERVICE_ERROR_FIELDS: dict[str, tuple[str, str]] = {
    "local_part": ("account", "local_part"),
    "first_name": ("account", "first_name"),
    "last_name": ("account", "last_name"),
    "password": ("account", "password1"),
    "quota": ("services", "quota"),
    "quota_bytes": ("services", "quota"),
    **{field: ("services", "mail_access") for field in MAIL_ACCESS_FIELDS},
    "webmail_enabled": ("services", "webmail_enabled"),
    "activesync_enabled": ("services", "activesync_enabled"),
    "dav_enabled": ("services", "dav_enabled"),
    **{field: ("security", field) for field in SecurityStepForm.base_fields},
    **{field: ("options", field) for field in OptionsStepForm.base_fields},
}


def service_errors_by_step(
    exc: ValidationError,
) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    """Split a service error into {step: {field: messages}} and the messages of no step."""
    by_step: dict[str, dict[str, list[str]]] = {}
    elsewhere: list[str] = []
    if hasattr(exc, "error_dict"):
        items = list(exc.message_dict.items())
    else:
        items = [(NON_FIELD_ERRORS, exc.messages)]
    for key, messages in items:
        if key in SERVICE_ERROR_FIELDS:
            step, field = SERVICE_ERROR_FIELDS[key]
            by_step.setdefault(step, {}).setdefault(field, []).extend(messages)
        else:
            elsewhere.extend(messages)
    return by_step, elsewhere
