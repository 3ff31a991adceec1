"""What an owner may change themselves, as the account's administrators set it."""

from __future__ import annotations

from django.utils import timezone

from mailboxes.models import Mailbox

FORWARDING_FIELDS = ("forward_to", "forward_keep_copy")
PASSWORD_MANAGED = "Your administrator manages the password of this account."  # noqa: S105
FORWARDING_MANAGED = "Your administrator manages the forwarding of this account."


def must_change_password(mailbox: Mailbox) -> bool:
    """A forced or expired password: the owner reaches only the change page until it is new."""
    expires = mailbox.password_expires_at
    return (
        mailbox.force_password_change
        or mailbox.password_expired
        or (expires is not None and expires <= timezone.now())
    )


def may_change_password(mailbox: Mailbox) -> bool:
    # A forced or expired password is always the owner's to change: it is the way back in.
    return mailbox.owner_may_change_password or must_change_password(mailbox)


def may_forward(mailbox: Mailbox) -> bool:
    return mailbox.owner_may_forward
