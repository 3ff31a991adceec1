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
    # The node's TLS as its last usage report said (provisioning/mailstack/tls.py node_status:
    # host name, expiry, SNI names, or why it has no usable certificate); None: no report yet.
    tls_status = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def queue(self) -> str:
        return f"node.{self.name}"


class QueueReport(models.Model):
    """When a node last reported its mail queue (provisioning/queue.py), and what went wrong."""

    node = models.OneToOneField(MailNode, on_delete=models.CASCADE, primary_key=True)
    reported_at = models.DateTimeField()  # the panel's clock: when the report arrived
    # The node's clock: when it read its queue. Reports may arrive out of order (two panel
    # workers); one read before the stored one is older news and is dropped.
    listed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"queue of {self.node_id} at {self.reported_at:%Y-%m-%d %H:%M:%S}"


class QueuedMessage(models.Model):
    """One message in a node's Postfix queue, as of the node's last report (a snapshot: every
    report replaces its node's rows). It belongs to the domain of its sender when the panel
    hosts that domain, else to the first hosted domain among its recipients, else to none
    (mail from and to outside addresses, e.g. a forward: staff see it on the node's list)."""

    node = models.ForeignKey(MailNode, on_delete=models.CASCADE, related_name="queued")
    queue_id = models.CharField(max_length=24)
    domain = models.ForeignKey(
        "domains.Domain", null=True, blank=True, on_delete=models.SET_NULL, related_name="queued"
    )
    state = models.CharField(max_length=16)
    sender = models.CharField(max_length=320, blank=True)
    recipients = models.JSONField(default=list)
    reason = models.TextField(blank=True)
    arrival = models.DateTimeField()
    size = models.PositiveBigIntegerField(default=0)
    reported_at = models.DateTimeField()

    class Meta:
        ordering = ["arrival", "queue_id"]
        constraints = [
            models.UniqueConstraint(fields=["node", "queue_id"], name="queued_message_unique_id")
        ]

    def __str__(self) -> str:
        return f"{self.queue_id} on {self.node_id}"
