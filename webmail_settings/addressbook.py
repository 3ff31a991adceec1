"""The company address book: who is listed (selectors) and the list as vCard 4.0.

Who is listed: the active person accounts of an organization's active domains whose
address-book setting is on. An account's own setting (WebmailPreferences.address_book_visible)
counts once its webmail settings have been saved (a WebmailPreferences row exists); until then
it follows its domain's default_address_book_visible, live. A row starts from the domain
default of that moment (new_preferences), so saving another webmail setting never changes
whether the account is listed. No-reply accounts are never listed: nobody can write to them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator

from django.db.models import Q, QuerySet

from mailboxes.models import Mailbox, MailboxKind, MailboxState
from organizations.models import Organization
from webmail_settings.models import WebmailPreferences

# --- who is listed -----------------------------------------------------------------------------

LISTED = Q(webmail_preferences__address_book_visible=True) | Q(
    webmail_preferences__isnull=True, domain__default_address_book_visible=True
)


def is_listed(mailbox: Mailbox) -> bool:
    """The rule of LISTED for one account (its visibility only; state and kind aside)."""
    preferences = WebmailPreferences.objects.filter(mailbox=mailbox).first()
    if preferences is None:
        return mailbox.domain.default_address_book_visible
    return preferences.address_book_visible


def _search(mailboxes: QuerySet[Mailbox], query: str) -> QuerySet[Mailbox]:
    query = query.strip()
    if not query:
        return mailboxes
    if "@" in query:
        local, domain = query.rsplit("@", 1)
        return mailboxes.filter(local_part__icontains=local, domain__name__icontains=domain)
    return mailboxes.filter(
        Q(local_part__icontains=query)
        | Q(first_name__icontains=query)
        | Q(last_name__icontains=query)
        | Q(domain__name__icontains=query)
    )


def address_book(
    organization: Organization, *, within: QuerySet[Mailbox] | None = None, query: str = ""
) -> QuerySet[Mailbox]:
    """The listed accounts of an organization, by name then address. within narrows it to
    what the viewer may see (an admin's mailboxes_for); an owner sees the whole list."""
    mailboxes = Mailbox.objects.filter(
        LISTED,
        domain__organization=organization,
        domain__is_active=True,
        state=MailboxState.ACTIVE,
        kind=MailboxKind.PERSON,
    )
    if within is not None:
        mailboxes = mailboxes.filter(pk__in=within.values("pk"))
    return (
        _search(mailboxes, query)
        .select_related("domain")
        .only("local_part", "first_name", "last_name", "domain__name")
        .order_by("last_name", "first_name", "local_part", "domain__name", "pk")
    )


# --- vCard 4.0 (RFC 6350) ----------------------------------------------------------------------

PRODID = "-//TempusMail//Company address book//EN"
# Control characters other than the line break have no place in a name; a bare CR would end
# the content line in some readers, so every line break becomes one "\n" escape.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_FOLD_OCTETS = 75  # RFC 6350 3.2: lines SHOULD NOT be longer than 75 octets


def escape_text(value: str) -> str:
    """A TEXT value or list component (RFC 6350 3.4): \\ , ; and line breaks escaped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value)
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def fold(line: str) -> str:
    """One content line, folded every 75 octets without splitting a UTF-8 character."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    limit = _FOLD_OCTETS
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            pieces.append("".join(current))
            current, size = [], 0
            limit = _FOLD_OCTETS - 1  # a continuation line starts with one space
        current.append(char)
        size += width
    pieces.append("".join(current))
    return "\r\n ".join(pieces) + "\r\n"


def contact_uid(mailbox: Mailbox) -> str:
    """Stable per account, so importing the export again updates instead of duplicating."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'tempusmail:mailbox:{mailbox.pk}')}"


def vcard(mailbox: Mailbox, organization_name: str) -> str:
    name = f"{mailbox.first_name} {mailbox.last_name}".strip() or mailbox.address
    lines = [
        "BEGIN:VCARD",
        "VERSION:4.0",
        f"PRODID:{PRODID}",
        f"UID:{contact_uid(mailbox)}",
        "KIND:individual",
        f"FN:{escape_text(name)}",
        f"N:{escape_text(mailbox.last_name)};{escape_text(mailbox.first_name)};;;",
        f"EMAIL;TYPE=work:{escape_text(mailbox.address)}",
        f"ORG:{escape_text(organization_name)}",
        "END:VCARD",
    ]
    return "".join(fold(line) for line in lines)


def vcards(mailboxes: Iterable[Mailbox], organization_name: str) -> Iterator[str]:
    for mailbox in mailboxes:
        yield vcard(mailbox, organization_name)
