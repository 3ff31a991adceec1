from __future__ import annotations

from django.db import models
from django.db.models import Q


class Plan(models.Model):
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

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_quota_bytes__isnull=True) | Q(max_quota_bytes__gte=0),
                name="plan_max_quota_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Organization(models.Model):
    """A tenant: a customer of the provider, owning domains."""

    name = models.CharField(max_length=200, unique=True)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
