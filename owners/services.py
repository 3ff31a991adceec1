"""What mailbox owners change themselves; every write goes through the mailbox services."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from mailboxes.models import Mailbox
from mailboxes.passwords import verify_password
from mailboxes.services import mailbox_set_password, mailbox_update
from owners.permissions import PASSWORD_MANAGED, may_change_password
from security.audit import Actor


@transaction.atomic
def owner_change_password(*, actor: Actor, mailbox: Mailbox, current: str, new: str) -> Mailbox:
    """The owner's own password change: proves the current password, refuses the same one
    again, and ends a forced change. The mail servers get the new hash through the loop."""
    if not may_change_password(mailbox):
        raise ValidationError(PASSWORD_MANAGED)
    if not verify_password(current, mailbox.password_hash):
        raise ValidationError({"current_password": "This is not your current password."})
    if verify_password(new, mailbox.password_hash):
        raise ValidationError({"new_password": "Choose a password you have not used here."})
    try:
        mailbox_set_password(actor=actor, mailbox=mailbox, password=new)
    except ValidationError as exc:
        raise ValidationError(
            {"new_password": exc.message_dict.get("password", exc.messages)}
        ) from exc
    if mailbox.force_password_change:
        # Through the service, so the trail shows the forced change ending (before/after).
        mailbox_update(actor=actor, mailbox=mailbox, changes={"force_password_change": False})
    return mailbox
