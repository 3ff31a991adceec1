from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Q

from mailboxes.validators import (
    normalize_local_part,
    validate_address_list,
    validate_networks,
    validate_time_zone,
)
from tempusmail.validators import PlainTextModel

LANGUAGES = [("en", "English"), ("fr", "Français"), ("de", "Deutsch"), ("it", "Italiano"),
             ("es", "Español")]  # fmt: skip


class MailboxState(models.TextChoices):
    ACTIVE = "active", "Active"
    DEACTIVATED = "deactivated", "Deactivated"


class MailboxKind(models.TextChoices):
    PERSON = "person", "Person"
    NOREPLY = "noreply", "No-reply (sends only)"


class SyncStatus(models.TextChoices):
    """What the panel shows per account: whether the mail servers have caught up."""

    UPDATING = "updating", "Updating"
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"


def _validate_local_part(value: str) -> None:
    normalize_local_part(value)


class Mailbox(PlainTextModel, models.Model):
    """An e-mail account: an address on a domain with a password and a mail store."""

    domain = models.ForeignKey("domains.Domain", on_delete=models.PROTECT, related_name="mailboxes")
    local_part = models.CharField(max_length=64, validators=[_validate_local_part])
    first_name = models.CharField("name / description", max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    password_hash = models.CharField(max_length=255)
    state = models.CharField(
        max_length=16, choices=MailboxState.choices, default=MailboxState.ACTIVE
    )
    kind = models.CharField(max_length=16, choices=MailboxKind.choices, default=MailboxKind.PERSON)
    quota_bytes = models.BigIntegerField(default=0, help_text="0 means unlimited")
    # The domain's desired_version at this mailbox's last change (see Domain).
    changed_version = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    password_changed_at = models.DateTimeField(null=True, blank=True)

    # Master data & general
    language = models.CharField(max_length=8, choices=LANGUAGES, default="en")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    # Sending limits (0: no limit; empty: the domain's default, see mailboxes.rules).
    daily_send_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages per day; empty: the domain's default"
    )
    hourly_send_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages per hour; empty: the domain's default"
    )
    max_recipients = models.PositiveIntegerField(
        null=True, blank=True, help_text="Recipients per message; empty: the domain's default"
    )
    # Services (limited by the organization's plan)
    imap_enabled = models.BooleanField("IMAP", default=True)
    pop3_enabled = models.BooleanField("POP3", default=True)
    smtp_enabled = models.BooleanField("SMTP (sending)", default=True)
    sieve_enabled = models.BooleanField("ManageSieve", default=True)
    webmail_enabled = models.BooleanField("Webmail", default=True)
    activesync_enabled = models.BooleanField("Exchange ActiveSync", default=False)
    dav_enabled = models.BooleanField("DAV (calendars, contacts)", default=False)
    # Security
    force_password_change = models.BooleanField(default=False)
    password_expiry_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: passwords do not expire"
    )
    # When the current password expires (from the policy, or set explicitly), and whether the
    # mail servers have been told it has: then every protocol login is refused until changed.
    password_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    password_expired = models.BooleanField(default=False)
    force_2fa = models.BooleanField("Force two-factor authentication", default=False)
    allowed_networks = models.JSONField(default=list, blank=True, validators=[validate_networks])
    api_access = models.BooleanField(default=False)
    # What the mailbox's owner may change themselves in the panel (a forced or expired
    # password is always theirs to change).
    owner_may_change_password = models.BooleanField(default=True)
    owner_may_forward = models.BooleanField(default=True)
    # Options
    spam_to_inbox = models.BooleanField("Deliver spam to the inbox", default=False)
    forward_to = models.JSONField(default=list, blank=True, validators=[validate_address_list])
    forward_keep_copy = models.BooleanField("Keep a copy", default=True)
    # Autoresponder: the interval is stored in UTC, shown in the account's time zone.
    autoreply_enabled = models.BooleanField(default=False)
    autoreply_subject = models.CharField(max_length=200, blank=True)
    autoreply_body = models.TextField(max_length=10000, blank=True)
    autoreply_start = models.DateTimeField(null=True, blank=True)
    autoreply_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["domain__name", "local_part"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "local_part"], name="mailbox_unique_address"),
            models.CheckConstraint(condition=Q(quota_bytes__gte=0), name="mailbox_quota_gte_0"),
            models.CheckConstraint(
                condition=Q(state__in=MailboxState.values), name="mailbox_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=MailboxKind.values), name="mailbox_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(autoreply_start__isnull=True)
                | Q(autoreply_end__isnull=True)
                | Q(autoreply_end__gt=models.F("autoreply_start")),
                name="mailbox_autoreply_interval",
            ),
        ]
        verbose_name_plural = "mailboxes"

    def __str__(self) -> str:
        return self.address

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain.name}"

    @property
    def is_active(self) -> bool:
        return self.state == MailboxState.ACTIVE

    @property
    def sync_status(self) -> SyncStatus:
        if self.changed_version > self.domain.applied_version:
            return SyncStatus.UPDATING
        return SyncStatus.ONLINE if self.is_active else SyncStatus.OFFLINE

    @property
    def usage_or_none(self) -> MailboxUsage | None:
        """The reported usage, or None before the mail node reported any."""
        try:
            return self.usage
        except ObjectDoesNotExist:
            return None

    @property
    def sync_error(self) -> str:
        """The reason the last apply failed, while this mailbox's change is still pending."""
        if self.sync_status == SyncStatus.UPDATING:
            return self.domain.apply_error
        return ""


class MailboxUsage(models.Model):
    """What the mail nodes report back about an account. No row, or a null: not reported yet."""

    mailbox = models.OneToOneField(Mailbox, on_delete=models.CASCADE, related_name="usage")
    storage_bytes = models.BigIntegerField(null=True, blank=True)
    messages = models.BigIntegerField(null=True, blank=True)
    last_login_at = models.DateTimeField(null=True, blank=True)
    last_login_protocol = models.CharField(max_length=16, blank=True)  # imap, pop3, managesieve
    sent_24h = models.IntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["storage_bytes"]),
            models.Index(fields=["last_login_at"]),
            models.Index(fields=["sent_24h"]),
        ]

    def __str__(self) -> str:
        return f"usage of {self.mailbox_id}"


class PasswordHistory(models.Model):
    """A password an account had before its current one (the hash only), so it is not chosen
    again (mailboxes/passwords.py). mailbox_set_password keeps the last few."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="password_history")
    password_hash = models.CharField(max_length=255)
    replaced_at = models.DateTimeField()

    class Meta:
        ordering = ["-replaced_at", "-pk"]
        verbose_name_plural = "password histories"

    def __str__(self) -> str:
        return f"old password of {self.mailbox_id}"
