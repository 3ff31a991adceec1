"""Reads of the audit trail for the audit pages: a scope, filters, newest first, a page.

Every scope is one indexed column (organization, domain, mailbox; see AuditEvent.Meta) and the
order is (created_at, id) descending, so a page walks one composite index from where the last
one stopped (keyset pagination: no OFFSET, no COUNT over a trail that only grows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from domains.models import Domain
from mailboxes.models import Mailbox
from organizations.access import domains_for, sees_whole_organization
from organizations.models import Organization
from security.models import AuditEvent

if TYPE_CHECKING:
    from organizations.access import User

PAGE_SIZE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def events_for_organization(user: User, organization: Organization) -> QuerySet[AuditEvent]:
    """The organization's events, or only those of the domains a domain admin was given."""
    events = AuditEvent.objects.filter(organization=organization)
    if sees_whole_organization(user, organization):
        return events
    return events.filter(domain__in=domains_for(user).filter(organization=organization))


def events_for_domain(domain: Domain) -> QuerySet[AuditEvent]:
    """The domain's own events and its accounts' (audit_record gives those their domain)."""
    return AuditEvent.objects.filter(domain=domain)


def events_for_mailbox(mailbox: Mailbox) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(mailbox=mailbox)


def all_events() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.select_related("organization")  # the staff page names it


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""  # the actor's label, exactly as shown
    action: str = ""  # an action ("mailbox.update"), or a family without a dot ("mailbox")
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def filtered(events: QuerySet[AuditEvent], filters: AuditFilters) -> QuerySet[AuditEvent]:
    if filters.actor:
        events = events.filter(actor_label=filters.actor)
    if filters.action and "." in filters.action:
        events = events.filter(action=filters.action)
    elif filters.action:
        events = events.filter(action__startswith=f"{filters.action}.")
    if filters.since is not None:
        events = events.filter(created_at__gte=filters.since)
    if filters.until is not None:
        events = events.filter(created_at__lt=filters.until)
    return events


# --- keyset pages ---------------------------------------------------------------------------


def cursor_of(event: AuditEvent) -> str:
    """Where a page starts or ends: the event's time in microseconds and its id."""
    return f"{(event.created_at - _EPOCH) // timedelta(microseconds=1)}-{event.pk}"


def _parse_cursor(cursor: str) -> tuple[datetime, int] | None:
    micros, _, pk = cursor.partition("-")
    if not (micros.isdigit() and pk.isdigit()) or len(micros) > 17:
        return None
    return _EPOCH + timedelta(microseconds=int(micros)), int(pk)


@dataclass(frozen=True)
class Page:
    events: list[AuditEvent]
    newer: str | None  # cursor for the link to newer events, None on the newest page
    older: str | None  # cursor for the link to older events, None on the oldest page


def page_of(
    events: QuerySet[AuditEvent], *, before: str = "", after: str = "", size: int = PAGE_SIZE
) -> Page:
    """The page of events just older than `before`, or just newer than `after`, else the newest.

    A malformed cursor (a hand-edited URL) gives the newest page. The `<=`/`>=` on created_at
    alone is what lets the database seek into the index; the OR then only breaks ties."""
    start = _parse_cursor(before) if before else None
    end = _parse_cursor(after) if after and start is None else None
    if end is not None:
        at, pk = end
        newer = events.filter(created_at__gte=at).filter(Q(created_at__gt=at) | Q(pk__gt=pk))
        rows = list(newer.order_by("created_at", "id")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        return Page(rows, cursor_of(rows[0]) if more_newer else None, _last_cursor(rows))
    if start is not None:
        at, pk = start
        events = events.filter(created_at__lte=at).filter(Q(created_at__lt=at) | Q(pk__lt=pk))
    rows = list(events.order_by("-created_at", "-id")[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    newer_cursor = cursor_of(rows[0]) if start is not None and rows else None
    return Page(rows, newer_cursor, cursor_of(rows[-1]) if more_older else None)


def _last_cursor(rows: list[AuditEvent]) -> str | None:
    # Coming back from older pages, there is always an older page (the one we came from).
    return cursor_of(rows[-1]) if rows else None
