from __future__ import annotations

from django.db import models

DATE_FORMATS = [("Y-m-d", "2026-11-21"), ("d.m.Y", "21.11.2026"), ("d/m/Y", "21/11/2026"),
                ("m/d/Y", "11/21/2026")]  # fmt: skip
TIME_FORMATS = [("H:i", "14:30"), ("h:i A", "02:30 PM")]


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
