from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models


class MailNode(models.Model):
    """A server running Postfix + Dovecot and the node agent, fed by Celery queue node.<name>."""

    name = models.CharField(
        max_length=63,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "Lowercase letters, digits, '-'.")],
    )
    description = models.CharField(max_length=200, blank=True)
    # The node's policy service, as its last usage report said (provisioning/policy/status.py):
    # since when it counts sent mail on its own because the counters' Redis is unreachable.
    policy_fallback_since = models.DateTimeField(null=True, blank=True)
    policy_reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def queue(self) -> str:
        return f"node.{self.name}"
