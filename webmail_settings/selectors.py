"""Reads shared by the owner pages and the webmail endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from mailboxes.models import Mailbox
from security import clock
from webmail_settings.models import ContactDetails, Identity, WebmailPreferences


def identities_of(mailbox: Mailbox) -> QuerySet[Identity]:
    return Identity.objects.for_mailbox(mailbox).prefetch_related("signatures")


def new_preferences(mailbox: Mailbox) -> WebmailPreferences:
    """An account's preferences before anything is saved: its domain's defaults (what a form
    shows, what the webmail endpoint gives, and what a new row starts from)."""
    domain = mailbox.domain
    return WebmailPreferences(
        mailbox=mailbox,
        address_book_visible=domain.default_address_book_visible,
        date_format=domain.default_date_format,
        time_format=domain.default_time_format,
    )


def preferences_or_new(mailbox: Mailbox) -> WebmailPreferences:
    """The saved preferences, or the unsaved ones new_preferences gives (a GET writes nothing)."""
    return WebmailPreferences.objects.filter(mailbox=mailbox).first() or new_preferences(mailbox)


def contact_details_of(mailbox: Mailbox) -> ContactDetails:
    """The account's contact details; empty (unsaved) until someone fills them in."""
    found = ContactDetails.objects.filter(mailbox=mailbox).first()
    return found or ContactDetails(mailbox=mailbox)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def autoresponder_state(mailbox: Mailbox, now: datetime) -> dict[str, Any]:
    start, end = mailbox.autoreply_start, mailbox.autoreply_end
    active = (
        mailbox.autoreply_enabled and (start is None or start <= now) and (end is None or now < end)
    )
    return {
        "enabled": mailbox.autoreply_enabled,
        "active_now": active,
        "subject": mailbox.autoreply_subject,
        "body": mailbox.autoreply_body,
        "start": _iso(start),
        "end": _iso(end),
    }


def webmail_profile(mailbox: Mailbox) -> dict[str, Any]:
    """What a webmail front end needs at login (GET /api/webmail/v1/me; see openapi.py)."""
    preferences = preferences_or_new(mailbox)
    identities = []
    for identity in identities_of(mailbox):
        signatures = [
            {
                "id": signature.pk,
                "name": signature.name,
                "html": signature.html,
                "text": signature.text,
                "default": signature.is_default,
                "bcc_sender": signature.bcc_sender,
                "corporate": signature.template_id is not None,
                "locked": signature.locked,
            }
            for signature in identity.signatures.all()
        ]
        identities.append(
            {
                "id": identity.pk,
                "name": identity.display_name,
                "email": identity.address,
                "signatures": signatures,
            }
        )
    return {
        "address": mailbox.address,
        "name": f"{mailbox.first_name} {mailbox.last_name}".strip(),
        "identities": identities,
        "preferences": {
            "language": mailbox.language,
            "time_zone": mailbox.time_zone,
            "date_format": preferences.date_format,
            "time_format": preferences.time_format,
        },
        "autoresponder": autoresponder_state(mailbox, clock.now()),
    }
