from __future__ import annotations

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

from tempusmail.validators import PlainTextModel


class Plan(PlainTextModel, models.Model):
    """What a provider sells an organization: the services it may offer and its limits."""

    name = models.CharField(max_length=100, unique=True)
    offers_pop_imap_smtp = models.BooleanField(default=True)
    offers_webmail = models.BooleanField(default=True)
    offers_activesync = models.BooleanField(default=False)
    offers_dav = models.BooleanField(default=False)
    max_accounts = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit")
    max_quota_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Largest storage quota per account; empty: no limit"
    )
    # The highest sending limits the panel lets a customer set (staff may go above them).
    max_daily_send_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages per day per account; empty: no maximum"
    )
    max_hourly_send_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages per hour per account; empty: no maximum"
    )
    max_recipients_per_message = models.PositiveIntegerField(
        null=True, blank=True, help_text="Recipients per message; empty: no maximum"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_quota_bytes__isnull=True) | Q(max_quota_bytes__gte=0),
                name="plan_max_quota_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Organization(PlainTextModel, models.Model):
    """A tenant: a customer of the provider, owning domains."""

    name = models.CharField(max_length=200, unique=True)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)
    # How many accounts the organization has, kept by mailboxes.services in the transaction
    # that creates or deletes one: the plan's limit is checked with one conditional UPDATE of
    # this row (constant cost, and it serialises two creates racing for the last free account)
    # instead of counting every mailbox of the organization.
    account_count = models.PositiveIntegerField(default=0, editable=False)
    # Forced two-factor login for the organization's members and its accounts' owners; the
    # grace period (also used by the domain and account policies) runs from their first login.
    force_2fa = models.BooleanField("Require two-factor login", default=False)
    two_factor_grace_days = models.PositiveSmallIntegerField(
        "Grace period (days)",
        default=7,
        validators=[MaxValueValidator(90)],
        help_text="Days a user may postpone setting up two-factor login once it is required.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Organization admin"
    DOMAIN_ADMIN = "domain_admin", "Domain admin"
    READ_ONLY = "read_only", "Read-only"


class Membership(models.Model):
    """A panel user's role in an organization (provider staff need none: they see all).

    Domain admins act only on the domains listed; organization admins and read-only members
    on all of the organization's domains.
    """

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    domains = models.ManyToManyField("domains.Domain", blank=True, related_name="admins")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.organization} · {self.get_role_display()}"
