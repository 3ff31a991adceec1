"""An owner's panel sessions follow their mailbox password.

Each session remembers the password_changed_at it was opened (or last confirmed) under: a new
password, whoever set it, ends every other session of the owner at its next request
(OwnerSessionMiddleware); the session that changed it takes the new value and goes on. At login
an owner whose password expires soon is told so.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from mailboxes.models import Mailbox
from mailboxes.passwords import expiry_warning
from organizations.access import mailbox_of_owner
from security import clock

EPOCH = "owners.password_epoch"


def _epoch(mailbox: Mailbox) -> str:
    changed = mailbox.password_changed_at
    return changed.isoformat() if changed else ""


def remember_password(request: HttpRequest, mailbox: Mailbox) -> None:
    request.session[EPOCH] = _epoch(mailbox)


def password_changed_since(request: HttpRequest, mailbox: Mailbox) -> bool:
    """Whether the mailbox password changed after this session took it (a session from before
    this check existed adopts the current one)."""
    if EPOCH not in request.session:
        remember_password(request, mailbox)
        return False
    return request.session[EPOCH] != _epoch(mailbox)


@receiver(user_logged_in, dispatch_uid="owners.sessions.on_login")
def _on_login(sender, request, user, **kwargs) -> None:
    mailbox = mailbox_of_owner(user)
    if mailbox is None or request is None or not hasattr(request, "session"):
        return
    remember_password(request, mailbox)
    warning = expiry_warning(mailbox, clock.now())
    if warning and hasattr(request, "_messages"):
        messages.warning(request, warning)
