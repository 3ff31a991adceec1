from __future__ import annotations

from django.core.exceptions import ValidationError

from mailboxes.models import Mailbox
from mailboxes.validators import split_address


def mailbox_by_address(address: str) -> Mailbox:
    """The mailbox with this address, or ValidationError naming the address."""
    local_part, domain = split_address(address)
    mailbox = (
        Mailbox.objects.select_related("domain", "domain__organization")
        .filter(domain__name=domain, local_part=local_part)
        .first()
    )
    if mailbox is None:
        raise ValidationError(f"No mailbox {local_part}@{domain}.", code="not_found")
    return mailbox
