from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Who did what to which object, from where and when. Written by every service."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Kept as text too, so the trail survives the actor's deletion (and names CLI/system actors).
    actor_label = models.CharField(max_length=200)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300)
    # The scopes whose audit pages show the event (security/audit_selectors.py). Each page
    # walks one composite index newest first; the single-column FK indexes would only repeat
    # their prefixes. Deleting the domain or account keeps the row (and the organization).
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
    )
    domain = models.ForeignKey(
        "domains.Domain",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        related_name="+",
    )
    mailbox = models.ForeignKey(
        "mailboxes.Mailbox",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        related_name="+",
    )
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["organization", "created_at", "id"], name="audit_org_time"),
            models.Index(fields=["domain", "created_at", "id"], name="audit_domain_time"),
            models.Index(fields=["mailbox", "created_at", "id"], name="audit_mailbox_time"),
            # The staff page filtered by actor ("what did this person do").
            models.Index(fields=["actor_label", "created_at", "id"], name="audit_actor_time"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"
        )


class LoginAttempt(models.Model):
    """One login attempt counted against a throttle key ("account:<name>" or "ip:<address>").

    Written before the password (or code) is checked and deleted when it proves right, so what
    is left are failures, and concurrent attempts already count against each other.
    """

    key = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["key", "created_at"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.key} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class LoginLock(models.Model):
    """A throttle key refused every login until locked_until (one row per key, reused)."""

    key = models.CharField(max_length=200, unique=True)
    started_at = models.DateTimeField()
    locked_until = models.DateTimeField()

    def __str__(self) -> str:
        kind, _, value = self.key.partition(":")
        return f"login lock on {kind} {value}"


class TwoFactorGrace(models.Model):
    """When a user's grace period for a forced two-factor policy started: their first login
    after the policy applied to them. Removed when a login finds no policy applying."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="two_factor_grace"
    )
    started_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.user} since {self.started_at:%Y-%m-%d}"
