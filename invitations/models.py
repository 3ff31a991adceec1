"""An invitation to take over a new address: the invitee chooses the password and becomes its
owner. Only a hash of the link's token is stored; the token itself exists in the e-mail."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tempusmail.validators import PlainTextModel


class InvitationState(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def for_domain(self, domain) -> InvitationQuerySet:
        return self.filter(domain=domain)


class Invitation(PlainTextModel, models.Model):
    domain = models.ForeignKey(
        "domains.Domain", on_delete=models.CASCADE, related_name="invitations"
    )
    local_part = models.CharField(max_length=64)
    # An organization member (sent to their e-mail), or nobody: an external address.
    invited_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    email = models.EmailField("Invitee's e-mail address")
    # sha256 of the link's token (hex); a resend replaces it, so older links stop working.
    token_hash = models.CharField(max_length=64, unique=True)
    may_change_password = models.BooleanField(default=True)
    may_forward = models.BooleanField(default=True)
    state = models.CharField(
        max_length=16, choices=InvitationState.choices, default=InvitationState.PENDING
    )
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    send_count = models.PositiveIntegerField(default=0)
    accepted_at = models.DateTimeField(null=True, blank=True)
    mailbox = models.ForeignKey(
        "mailboxes.Mailbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=InvitationState.values), name="invitation_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.address}"

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain.name}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_open(self) -> bool:
        """Pending and not expired: the link works."""
        return self.state == InvitationState.PENDING and not self.is_expired

    @property
    def status_label(self) -> str:
        if self.state == InvitationState.PENDING and self.is_expired:
            return "Expired"
        return self.get_state_display()
