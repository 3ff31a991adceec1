"""What an owner may change themselves, as the account's administrators set it."""

from __future__ import annotations

from mailboxes.models import Mailbox
from owners.middleware import must_change_password

FORWARDING_FIELDS = ("forward_to", "forward_keep_copy")
PASSWORD_MANAGED = "Your administrator manages the password of this account."  # noqa: S105
FORWARDING_MANAGED = "Your administrator manages the forwarding of this account."


def may_change_password(mailbox: Mailbox) -> bool:
    # A forced or expired password is always the owner's to change: it is the way back in.
    return mailbox.owner_may_change_password or must_change_password(mailbox)


def may_forward(mailbox: Mailbox) -> bool:
    return mailbox.owner_may_forward
