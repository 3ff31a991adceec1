from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from domains.validators import display_domain_name, validate_domain_name
from tempusmail.validators import PlainTextModel
from webmail_settings.choices import DATE_FORMATS, TIME_FORMATS


class DomainQuerySet(models.QuerySet["Domain"]):
    def lagging(self) -> DomainQuerySet:
        """Domains whose mail node has not yet acknowledged the latest desired version."""
        return self.filter(applied_version__lt=F("desired_version"))


class Domain(PlainTextModel, models.Model):
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

    # Defaults for new accounts (the Settings tab), and the catch-all target.
    default_quota_bytes = models.BigIntegerField(default=1024**3)
    default_language = models.CharField(max_length=8, default="en")
    default_time_zone = models.CharField(max_length=64, default="UTC")
    # How webmail shows dates and times for accounts that never chose (webmail_settings).
    default_date_format = models.CharField(max_length=16, choices=DATE_FORMATS, default="Y-m-d")
    default_time_format = models.CharField(max_length=16, choices=TIME_FORMATS, default="H:i")
    password_min_length = models.PositiveSmallIntegerField(default=10)
    password_expiry_days = models.PositiveIntegerField(null=True, blank=True)
    force_2fa = models.BooleanField(default=False)
    # Whether accounts that never chose are listed in the company address book (see
    # webmail_settings.addressbook: an account's own choice wins).
    default_address_book_visible = models.BooleanField(
        "Listed in the company address book", default=True
    )
    catchall_target = models.CharField(max_length=254, blank=True)
    # Sending limits of every account without its own (0: no limit; empty: the plan's maximum).
    default_daily_send_limit = models.PositiveIntegerField(null=True, blank=True)
    default_hourly_send_limit = models.PositiveIntegerField(null=True, blank=True)
    default_max_recipients = models.PositiveIntegerField(null=True, blank=True)
    # Spam scores of inbound mail (rspamd, issue 15): from the junk score on, mail carries
    # X-Spam-Flag and goes to Junk; from the reject score on, it is refused at end of data.
    spam_junk_score = models.DecimalField(max_digits=5, decimal_places=1, default=6)
    spam_reject_score = models.DecimalField(max_digits=5, decimal_places=1, default=15)

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
            models.CheckConstraint(
                condition=Q(default_quota_bytes__gte=0), name="domain_default_quota_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(password_min_length__gte=8), name="domain_password_min_length_gte_8"
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


class DkimState(models.TextChoices):
    NEXT = "next", "published, not signing yet"
    ACTIVE = "active", "signing"
    RETIRED = "retired", "retired"


class DkimKey(models.Model):
    """A DKIM key of a domain (domains/dkim_services.py makes and rotates them).

    The private key leaves the panel only inside the apply payload for the domain's own node;
    it is never shown, logged or audited. A key replaced by a newer one keeps its state
    "active" (its DNS record must stay published for mail already sent) until retire_after,
    when the beat task retires it and forgets the private key.
    """

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="dkim_keys")
    selector = models.CharField(max_length=63)
    algorithm = models.CharField(
        max_length=8, choices=[("rsa", "RSA 2048"), ("ed25519", "Ed25519")], default="rsa"
    )
    private_key = models.TextField(blank=True)  # PEM (PKCS#8); "" once retired
    public_key = models.TextField()  # the p= value of the TXT record
    state = models.CharField(max_length=8, choices=DkimState.choices, default=DkimState.NEXT)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retire_after = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["domain", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "selector"], name="dkim_selector_unique")
        ]

    def __str__(self) -> str:
        return f"{self.selector}._domainkey.{self.domain.name}"
