from __future__ import annotations

from django.db import models

from tempusmail.validators import PlainTextModel
from webmail_settings.choices import DATE_FORMATS, TIME_FORMATS


class WebmailPreferences(models.Model):
    """How webmail shows an account's mail; language and time zone are the account's own."""

    mailbox = models.OneToOneField(
        "mailboxes.Mailbox", on_delete=models.CASCADE, related_name="webmail_preferences"
    )
    date_format = models.CharField(max_length=16, choices=DATE_FORMATS, default="Y-m-d")
    time_format = models.CharField(max_length=16, choices=TIME_FORMATS, default="H:i")
    address_book_visible = models.BooleanField("Visible in the company address book", default=True)

    def __str__(self) -> str:
        return f"webmail preferences of {self.mailbox}"


class IdentityQuerySet(models.QuerySet):
    def for_mailbox(self, mailbox) -> IdentityQuerySet:
        """The one way to an account's identities (owner pages and the webmail endpoint)."""
        return self.filter(mailbox=mailbox)


class Identity(PlainTextModel, models.Model):
    """A name and From address the owner sends as in webmail: their own address, or (once
    aliases exist) an alias of theirs. See webmail_settings.services.sender_addresses."""

    mailbox = models.ForeignKey(
        "mailboxes.Mailbox", on_delete=models.CASCADE, related_name="identities"
    )
    display_name = models.CharField(max_length=150, blank=True)
    address = models.EmailField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = IdentityQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        verbose_name_plural = "identities"

    def __str__(self) -> str:
        return f"{self.display_name} <{self.address}>" if self.display_name else self.address


class Signature(PlainTextModel, models.Model):
    """One signature of an identity. The HTML is stored sanitised (webmail_settings.sanitize);
    the text is the owner's own or derived from the HTML."""

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="signatures")
    name = models.CharField(max_length=100)
    html = models.TextField("HTML", max_length=20_000, blank=True)
    text = models.TextField("Plain text", max_length=20_000, blank=True)
    is_default = models.BooleanField("Default signature of this identity", default=False)
    bcc_sender = models.BooleanField("Add the sender in BCC", default=False)
    # A corporate signature: rendered from a domain admin's template (webmail_settings.corporate)
    # and re-rendered when the template changes; locked ones the owner may use but not change.
    template = models.ForeignKey(
        "SignatureTemplate",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="signatures",
    )
    locked = models.BooleanField(default=False)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["identity"],
                condition=models.Q(is_default=True),
                name="signature_one_default_per_identity",
            ),
            models.UniqueConstraint(
                fields=["identity", "template"],
                condition=models.Q(template__isnull=False),
                name="signature_one_per_template_per_identity",
            ),
            models.CheckConstraint(
                condition=models.Q(locked=False) | models.Q(template__isnull=False),
                name="signature_only_corporate_ones_locked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.identity})"


class ContactDetails(PlainTextModel, models.Model):
    """What a corporate signature says about an account besides its name and address."""

    mailbox = models.OneToOneField(
        "mailboxes.Mailbox", on_delete=models.CASCADE, related_name="contact_details"
    )
    title = models.CharField("Job title", max_length=100, blank=True)
    department = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    address = models.TextField("Postal address", max_length=300, blank=True)

    class Meta:
        verbose_name_plural = "contact details"

    def __str__(self) -> str:
        return f"contact details of {self.mailbox}"


class SignatureTemplateQuerySet(models.QuerySet):
    def for_domain(self, domain) -> SignatureTemplateQuerySet:
        """The one way to a domain's templates (webmail_settings.access)."""
        return self.filter(domain=domain)


class SignatureTemplate(PlainTextModel, models.Model):
    """A domain admin's corporate signature: HTML (stored sanitised) and plain text with
    placeholders, rendered into a Signature on the default identity of each chosen account."""

    domain = models.ForeignKey(
        "domains.Domain", on_delete=models.CASCADE, related_name="signature_templates"
    )
    name = models.CharField(max_length=100)
    html = models.TextField("HTML", max_length=20_000, blank=True)
    text = models.TextField("Plain text", max_length=20_000, blank=True)
    all_accounts = models.BooleanField("Every account of the domain", default=True)
    accounts = models.ManyToManyField(
        "mailboxes.Mailbox", blank=True, related_name="signature_templates"
    )
    owners_may_edit = models.BooleanField("Owners may edit their copy", default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SignatureTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "name"], name="signature_template_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name
