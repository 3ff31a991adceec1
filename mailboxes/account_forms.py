"""Forms of the account page's tabs: they validate and normalise, the services save.

Each settings form names its fields like the Mailbox fields (the quota as "quota", as the
rules do), so a service's ValidationError lands next to its field, and offers changes() with
the dict that mailbox_update (or preferences_update) takes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError

from mailboxes.models import LANGUAGES, Mailbox
from mailboxes.passwords import check_password_change
from mailboxes.rules import (
    SENDING_LIMITS,
    SERVICE_OFFERS,
    SendingLimit,
    plan_maximums,
    resolve_limit,
)
from mailboxes.validators import (
    MAX_FORWARDS,
    available_timezones,
    format_size,
    parse_address_list,
    parse_networks,
    parse_size,
)
from organizations.models import Plan
from tempusmail.forms import sending_limit_field
from webmail_settings.models import DATE_FORMATS, TIME_FORMATS, WebmailPreferences


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    return [(zone, zone.replace("_", " ")) for zone in sorted(available_timezones())]


def quota_text(quota_bytes: int) -> str:
    """The quota as the field shows it: "2G", or "0" for unlimited (what parse_size reads)."""
    return "0" if quota_bytes == 0 else format_size(quota_bytes)


class AccountForm(forms.Form):
    """A tab's form: filled from the mailbox, every field disabled for read-only members."""

    def __init__(self, *args: Any, mailbox: Mailbox, read_only: bool = False, **kwargs: Any):
        kwargs.setdefault("initial", self.initial_for(mailbox))
        super().__init__(*args, **kwargs)
        self.mailbox = mailbox
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def initial_for(self, mailbox: Mailbox) -> dict[str, Any]:
        return {name: getattr(mailbox, name) for name in self.base_fields}

    def changes(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


def _checkbox(label: str, help_text: str = "") -> forms.BooleanField:
    return forms.BooleanField(label=label, required=False, help_text=help_text)


# --- General -------------------------------------------------------------------------------


def limit_help(limit: SendingLimit, default: int, maximum: int | None) -> str:
    """What the field leaves to the domain, and how far the plan lets it go."""
    inherited = f"{default:,}" if default else "no limit"
    text = f"{limit.unit.capitalize()}. Empty: the domain's default ({inherited})."
    if maximum:
        return f"{text} The plan allows up to {maximum:,}; increases may entail costs."
    return f"{text} 0: no limit."


class GeneralForm(AccountForm):
    first_name = forms.CharField(label="Name / description", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    language = forms.ChoiceField(label="Language", choices=LANGUAGES)
    time_zone = forms.ChoiceField(label="Time zone", choices=time_zone_choices)
    quota = forms.CharField(
        label="Storage capacity",
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    daily_send_limit = sending_limit_field("Daily sending limit")
    hourly_send_limit = sending_limit_field("Hourly sending limit")
    max_recipients = sending_limit_field("Recipients per message")
    imap_enabled = _checkbox("IMAP")
    pop3_enabled = _checkbox("POP3")
    smtp_enabled = _checkbox("SMTP (sending)")
    sieve_enabled = _checkbox("ManageSieve (filters)")
    webmail_enabled = _checkbox("Webmail")
    activesync_enabled = _checkbox("Exchange ActiveSync")
    dav_enabled = _checkbox("DAV (calendars, contacts)")

    SERVICE_FIELDS = tuple(SERVICE_OFFERS)

    def __init__(self, *args: Any, mailbox: Mailbox, plan: Plan | None, **kwargs: Any):
        super().__init__(*args, mailbox=mailbox, **kwargs)
        limit = plan.max_quota_bytes if plan else None
        self.fields["quota"].help_text = "For example 500M or 2G" + (
            f"; the plan allows up to {format_size(limit)}." if limit else "; 0: unlimited."
        )
        maximums = plan_maximums(plan)
        domain = mailbox.domain
        for sending in SENDING_LIMITS:
            default = resolve_limit(
                None, getattr(domain, sending.default_field), maximums[sending.max_field]
            )
            self.fields[sending.field].help_text = limit_help(
                sending, default, maximums[sending.max_field]
            )
        # What the plan does not offer stays as it is, greyed out, and is never sent to the
        # service (which would refuse to switch it on, and must not be asked to keep it on).
        self.not_offered = {
            name for name, offer in SERVICE_OFFERS.items() if plan and not getattr(plan, offer)
        }
        for name in self.not_offered:
            self.fields[name].disabled = True
            self.fields[name].help_text = "Not part of the plan"

    def initial_for(self, mailbox: Mailbox) -> dict[str, Any]:
        initial = {n: getattr(mailbox, n) for n in self.base_fields if n != "quota"}
        return {**initial, "quota": quota_text(mailbox.quota_bytes)}

    def clean_quota(self) -> int:
        return parse_size(self.cleaned_data["quota"])

    def changes(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["quota_bytes"] = data.pop("quota")
        data["first_name"] = data["first_name"].strip()
        data["last_name"] = data["last_name"].strip()
        for name in self.not_offered:
            del data[name]
        return data

    def service_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.SERVICE_FIELDS]


# --- Forwarding ----------------------------------------------------------------------------


class ForwardingForm(AccountForm):
    forward_to = forms.CharField(
        label="Forward to",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text=f"Up to {MAX_FORWARDS} addresses, one per line (or separated by commas).",
    )
    forward_keep_copy = _checkbox(
        "Keep a copy in this account", "Otherwise forwarded mail is not stored here."
    )
    spam_to_inbox = _checkbox(
        "Deliver spam to the inbox", "Otherwise mail recognised as spam goes to the Junk folder."
    )

    def initial_for(self, mailbox: Mailbox) -> dict[str, Any]:
        return {**super().initial_for(mailbox), "forward_to": "\n".join(mailbox.forward_to)}

    def clean_forward_to(self) -> list[str]:
        return parse_address_list(self.cleaned_data["forward_to"])


# --- Security ------------------------------------------------------------------------------


class PasswordForm(AccountForm):
    password = forms.CharField(
        label="New password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_confirm = forms.CharField(
        label="New password, again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def initial_for(self, mailbox: Mailbox) -> dict[str, Any]:
        return {}

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        mailbox = self.mailbox
        check_password_change(mailbox, password)
        return password

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password"), data.get("password_confirm")
        if first is not None and second is not None and first != second:
            self.add_error("password_confirm", "The two passwords differ.")
        return data


class SecurityForm(AccountForm):
    force_password_change = _checkbox(
        "Force a password reset", "The user must choose a new password at the next login."
    )
    password_expiry_days = forms.IntegerField(
        label="Password expires after (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Empty: the password does not expire.",
    )
    force_2fa = _checkbox(
        "Enforce two-factor authentication (OTP)", "Logins need a one-time code as well."
    )
    allowed_networks = forms.CharField(
        label="Allowed IP addresses",
        required=False,
        max_length=5_000,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="One address or network per line, e.g. 192.0.2.10 or 2001:db8::/32. "
        "Empty: logins from anywhere.",
    )
    api_access = _checkbox("API access", "The account may use the API with its credentials.")
    owner_may_change_password = _checkbox(
        "The owner may change the password", "In the panel (a forced change is always allowed)."
    )
    owner_may_forward = _checkbox(
        "The owner may set up forwarding", "Otherwise only administrators change forwarding."
    )

    def initial_for(self, mailbox: Mailbox) -> dict[str, Any]:
        initial = super().initial_for(mailbox)
        return {**initial, "allowed_networks": "\n".join(mailbox.allowed_networks)}

    def clean_allowed_networks(self) -> list[str]:
        return parse_networks(self.cleaned_data["allowed_networks"])


# --- Autoresponder -------------------------------------------------------------------------


def wall_time_to_utc(naive: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in zone as an aware UTC datetime.

    A time that occurs twice (clocks go back) is taken at its first occurrence (fold=0, still
    summer time); a time that never occurs (clocks skip forward) is refused, since any shift
    would be a guess.
    """
    aware = naive.replace(tzinfo=zone, fold=0)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise ValidationError(
            f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks skip that hour "
            "when summer time starts. Choose a time before or after it.",
            code="nonexistent",
        )
    return aware.astimezone(UTC)


class WallClockDateTimeField(forms.DateTimeField):
    """A date and time without a zone; the form says in which zone it is meant."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value.replace(tzinfo=None)
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if parsed.tzinfo is not None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        if not 1970 <= parsed.year <= 9998:  # converting the extremes to UTC would overflow
            raise ValidationError("Enter a year between 1970 and 9998.", code="out_of_range")
        return parsed


class AutoresponderForm(AccountForm):
    autoreply_enabled = _checkbox("Send automatic replies")
    autoreply_subject = forms.CharField(label="Subject", max_length=200, required=False)
    autoreply_body = forms.CharField(
        label="Message",
        max_length=10_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 7}),
    )
    autoreply_start = WallClockDateTimeField(
        label="Start", required=False, help_text="Empty: from now on."
    )
    autoreply_end = WallClockDateTimeField(
        label="End", required=False, help_text="Empty: until switched off."
    )

    def __init__(self, *args: Any, mailbox: Mailbox, **kwargs: Any):
        self.zone = ZoneInfo(mailbox.time_zone)
        super().__init__(*args, mailbox=mailbox, **kwargs)

    def _local(self, value: datetime | None) -> datetime | None:
        return value.astimezone(self.zone).replace(tzinfo=None) if value else None

    def initial_for(self, mailbox: Mailbox) -> dict[str, Any]:
        initial = super().initial_for(mailbox)
        for name in ("autoreply_start", "autoreply_end"):
            initial[name] = self._local(getattr(mailbox, name))
        return initial

    def _clean_moment(self, name: str) -> datetime | None:
        naive = self.cleaned_data[name]
        if naive is None:
            return None
        stored = getattr(self.mailbox, name)
        if stored and naive == self._local(stored):
            # Unchanged on the page: keep the stored instant (it may be the second of two
            # ambiguous wall-clock times, which fold=0 would otherwise move an hour).
            return stored
        return wall_time_to_utc(naive, self.zone)

    def clean_autoreply_start(self) -> datetime | None:
        return self._clean_moment("autoreply_start")

    def clean_autoreply_end(self) -> datetime | None:
        return self._clean_moment("autoreply_end")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("autoreply_start"), data.get("autoreply_end")
        if start and end and end <= start:
            self.add_error("autoreply_end", "The end must be after the start.")
        if data.get("autoreply_enabled") and not data.get("autoreply_subject"):
            self.add_error("autoreply_subject", "An automatic reply needs a subject.")
        return data


# --- Webmail settings ----------------------------------------------------------------------


class WebmailForm(AccountForm):
    language = forms.ChoiceField(label="Language", choices=LANGUAGES)
    time_zone = forms.ChoiceField(label="Time zone", choices=time_zone_choices)
    date_format = forms.ChoiceField(label="Date format", choices=DATE_FORMATS)
    time_format = forms.ChoiceField(label="Time format", choices=TIME_FORMATS)
    address_book_visible = _checkbox(
        "Visible in the company address book",
        "Colleagues find this account in the shared address book of webmail.",
    )

    def __init__(self, *args: Any, preferences: WebmailPreferences, **kwargs: Any):
        self.preferences = preferences
        super().__init__(*args, **kwargs)

    def initial_for(self, mailbox: Mailbox) -> dict[str, Any]:
        prefs = self.preferences
        return {
            "language": mailbox.language,
            "time_zone": mailbox.time_zone,
            "date_format": prefs.date_format,
            "time_format": prefs.time_format,
            "address_book_visible": prefs.address_book_visible,
        }


# --- Delete --------------------------------------------------------------------------------


class DeleteForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
        help_text="The password you log in to this panel with.",
    )

    def __init__(self, *args: Any, user: Any, read_only: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.user = user
        if read_only:
            self.fields["password"].disabled = True

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError("This is not your password.", code="wrong_password")
        return password
