from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.expressions import OrderBy

from domains.models import Domain
from mailboxes.models import Mailbox, MailboxState
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


# --- the account list ---------------------------------------------------------------------

SORTS = {
    "status": ("status_rank", "local_part"),
    "address": ("local_part",),
    "name": ("last_name", "first_name", "local_part"),
    "storage": ("usage__storage_bytes", "local_part"),
    "last_access": ("usage__last_login_at", "local_part"),
    "sent": ("usage__sent_24h", "local_part"),
}
STATUS_FILTERS = ("updating", "online", "offline")


def _ordering(sort: str) -> list[OrderBy | str]:
    descending = sort.startswith("-")
    fields = SORTS.get(sort.lstrip("-"), SORTS["address"])
    # Not yet reported usage sorts last either way, like an empty cell should.
    return [F(f).desc(nulls_last=True) if descending else F(f).asc(nulls_last=True) for f in fields]


def mailbox_list(domain: Domain, *, query: str = "", status: str = "", sort: str = "") -> QuerySet:
    """The accounts of a domain for the list page: searched, filtered and sorted in SQL."""
    applied = domain.applied_version
    mailboxes = (
        Mailbox.objects.filter(domain=domain)
        .select_related("usage")
        .annotate(
            status_rank=Case(
                When(changed_version__gt=applied, then=Value(0)),
                When(state=MailboxState.ACTIVE, then=Value(1)),
                default=Value(2),
            )
        )
    )
    query = query.strip()
    if query:
        local = query.split("@")[0].lower()
        mailboxes = mailboxes.filter(
            Q(local_part__contains=local)
            | Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
        )
    if status == "updating":
        mailboxes = mailboxes.filter(changed_version__gt=applied)
    elif status == "online":
        mailboxes = mailboxes.filter(changed_version__lte=applied, state=MailboxState.ACTIVE)
    elif status == "offline":
        mailboxes = mailboxes.filter(changed_version__lte=applied, state=MailboxState.DEACTIVATED)
    return mailboxes.order_by(*_ordering(sort))
