"""Writes to an account's webmail settings: validated and audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from mailboxes.models import Mailbox
from mailboxes.services import mailbox_update
from security.audit import Actor, audit_record
from webmail_settings.models import WebmailPreferences

# Webmail shows the account's own language and time zone (see WebmailPreferences), so the
# Webmail tab edits those on the Mailbox, through mailbox_update.
ACCOUNT_FIELDS = frozenset({"language", "time_zone"})
PREFERENCE_FIELDS = frozenset({"date_format", "time_format", "address_book_visible"})


@transaction.atomic
def preferences_update(
    *, actor: Actor, mailbox: Mailbox, changes: dict[str, Any]
) -> WebmailPreferences:
    """Change an account's webmail settings; language and time zone are the account's own."""
    unknown = set(changes) - ACCOUNT_FIELDS - PREFERENCE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    account = {f: v for f, v in changes.items() if f in ACCOUNT_FIELDS}
    if account:
        mailbox_update(actor=actor, mailbox=mailbox, changes=account)

    preferences, _ = WebmailPreferences.objects.select_for_update().get_or_create(mailbox=mailbox)
    preferences.mailbox = mailbox  # already loaded: the audit row names it without a query
    changed = {
        f: v for f, v in changes.items() if f in PREFERENCE_FIELDS and getattr(preferences, f) != v
    }
    if not changed:
        return preferences
    before = {f: getattr(preferences, f) for f in changed}
    for field, value in changed.items():
        setattr(preferences, field, value)
    preferences.full_clean()
    preferences.save(update_fields=list(changed))
    # No provisioning: these preferences are read by webmail front ends, not by the mail
    # servers, so the account does not turn Updating for them.
    audit_record(
        actor=actor,
        action="webmail_preferences.update",
        obj=preferences,
        organization=mailbox.domain.organization,
        mailbox=mailbox,
        before=before,
        after=changed,
    )
    return preferences
