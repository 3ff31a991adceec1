"""API keys: the credentials of the JSON API (api/auth.py reads them, api/services.py writes).

A key is shown once as ``tm_<prefix>_<secret>``. The prefix is public (it finds the row and
names the key in lists); only the sha256 of the secret is stored, compared in constant time.
An organization key reaches the organization's domains (all, or those listed); a personal key
(``mailbox`` set) reaches only that account, and only while the account has API access.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from mailboxes.validators import validate_networks
from tempusmail.validators import PlainTextModel


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def organization_keys(self) -> ApiKeyQuerySet:
        return self.filter(mailbox__isnull=True)

    def personal_keys(self, mailbox: object) -> ApiKeyQuerySet:
        return self.filter(mailbox=mailbox)


class ApiKey(PlainTextModel, models.Model):
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)  # sha256 hex of the secret part
    name = models.CharField(max_length=100)
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="api_keys"
    )
    # Empty: every domain of the organization (now and later). Not used by personal keys.
    domains = models.ManyToManyField("domains.Domain", blank=True, related_name="api_keys")
    # A personal key of the account's owner: that account's own settings only.
    mailbox = models.ForeignKey(
        "mailboxes.Mailbox",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_keys",
    )
    read_only = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Empty: from anywhere. Canonical CIDRs, as an account's allowed networks.
    allowed_networks = models.JSONField(default=list, blank=True, validators=[validate_networks])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(secret_hash=""), name="apikey_secret_hash_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (tm_{self.prefix}_…)"

    @property
    def is_personal(self) -> bool:
        return self.mailbox_id is not None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        from security import clock

        return self.expires_at is not None and self.expires_at <= clock.now()
