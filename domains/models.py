from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from domains.validators import display_domain_name, validate_domain_name


class DomainQuerySet(models.QuerySet["Domain"]):
    def lagging(self) -> DomainQuerySet:
        """Domains whose mail node has not yet acknowledged the latest desired version."""
        return self.filter(applied_version__lt=F("desired_version"))


class Domain(models.Model):
    """A mail domain of an organization, served by one mail node.

    desired_version counts the changes made to the domain and its accounts; the node agent
    acknowledges the version it applied. A mailbox is Updating while its own change version is
    ahead of applied_version.
    """

    name = models.CharField(max_length=253, unique=True, validators=[validate_domain_name])
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="domains"
    )
    node = models.ForeignKey(
        "provisioning.MailNode", on_delete=models.PROTECT, related_name="domains"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    desired_version = models.BigIntegerField(default=1)
    sent_version = models.BigIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    applied_version = models.BigIntegerField(default=0)
    applied_at = models.DateTimeField(null=True, blank=True)
    apply_error = models.TextField(blank=True)
    apply_error_at = models.DateTimeField(null=True, blank=True)
    # Failed applies in a row: reconcile waits longer before each retry (reset on success).
    apply_failures = models.PositiveIntegerField(default=0)

    objects = DomainQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(applied_version__lte=F("desired_version")),
                name="domain_applied_not_ahead",
            ),
        ]
        indexes = [models.Index(fields=["applied_version", "desired_version"])]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        return display_domain_name(self.name)

    @property
    def is_in_sync(self) -> bool:
        return self.applied_version >= self.desired_version
