"""What accounts sent, read from the policy service's counters in Redis.

The policy service on every mail node writes the counters (provisioning/sent_counter.py); the
panel only reads them: the account list (one pipelined round trip per page of rows), the
account page, `manage.py mailbox usage`, and the periodic refresh of MailboxUsage.sent_24h
that the list sorts on (provisioning/usage.py). Counters are keyed by mailbox id (a re-created
address starts at zero). Redis being away never breaks a page: the readers get None and show a dash
that says why, and whether the domain's node counts on its own meanwhile (unavailable_note).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from mailboxes.rules import (
    ACCOUNT_LIMIT_FIELDS,
    DOMAIN_LIMIT_FIELDS,
    effective_limits,
    plan_maximums,
)
from provisioning.sent_counter import DAY, HOUR, sent_in_window
from tempusmail.redis_clients import panel_redis

if TYPE_CHECKING:
    from domains.models import Domain
    from mailboxes.models import Mailbox
    from provisioning.models import MailNode

log = logging.getLogger(__name__)

# A panel page waits at most this long for Redis before showing "—" instead.
# From this share of a limit on, an account is highlighted.
NEAR_LIMIT_PERCENT = 80
UNAVAILABLE = "The sending counters cannot be read right now (Redis is unreachable)."


def sending_redis() -> Any:
    return panel_redis(settings.SENDING_REDIS_URL)


def sent_counts(mailbox_ids: Iterable[int], seconds: int = DAY) -> dict[int, int] | None:
    """{mailbox id: messages sent in the last `seconds`}, or None if Redis cannot be read."""
    import redis

    try:
        return sent_in_window(
            sending_redis(), settings.SENDING_REDIS_PREFIX, mailbox_ids, seconds=seconds
        )
    except (redis.RedisError, OSError) as exc:
        log.warning("sent counters unavailable: %s", exc)
        return None


def unavailable_note(node: MailNode | None) -> str:
    """Why the counts are missing; and, when the node last reported that its policy service
    counts on its own (provisioning/policy/fallback.py), since when."""
    if node is None or node.policy_fallback_since is None:
        return UNAVAILABLE
    at = timezone.localtime(node.policy_fallback_since).strftime("%Y-%m-%d %H:%M %Z")
    return (
        f"{UNAVAILABLE} Mail node {node.name} has counted sent mail on its own since {at}: "
        "limits still apply there, and its counts are added here once Redis is back."
    )


@dataclass(frozen=True)
class SentCount:
    """An account's messages in the sliding day (and hour), beside its limits (0: none)."""

    day: int
    hour: int | None  # read only where an hourly limit applies
    daily_limit: int
    hourly_limit: int

    @staticmethod
    def _near(used: int | None, limit: int) -> bool:
        return bool(limit) and used is not None and used * 100 >= limit * NEAR_LIMIT_PERCENT

    @property
    def near_limit(self) -> bool:
        return self._near(self.day, self.daily_limit) or self._near(self.hour, self.hourly_limit)

    @property
    def near_note(self) -> str:
        """The visible label of a highlighted cell, e.g. "82 % of the daily limit"."""
        parts = [
            f"{used * 100 // limit} % of the {window} limit"
            for used, limit, window in ((self.day, self.daily_limit, "daily"),
                                        (self.hour, self.hourly_limit, "hourly"))
            if used is not None and self._near(used, limit)
        ]  # fmt: skip
        return "; ".join(parts)

    @property
    def summary(self) -> str:
        """E.g. "412 of 500 today; 45 of 50 this hour": the cell's title and label."""
        parts = [f"{self.day:,} of {self.daily_limit:,} today" if self.daily_limit
                 else f"{self.day:,} today"]  # fmt: skip
        if self.hourly_limit and self.hour is not None:
            parts.append(f"{self.hour:,} of {self.hourly_limit:,} this hour")
        return "; ".join(parts)


def sent_for_mailboxes(mailboxes: Iterable[Mailbox], domain: Domain) -> dict[int, SentCount] | None:
    """{mailbox id: SentCount} for accounts of one domain (a page of the list, or one), or None
    if Redis cannot be read. One pipelined round trip for the day; a second one for the hour
    only if an account among them has an hourly limit."""
    maximums = plan_maximums(domain.organization.plan)
    defaults = {f: getattr(domain, f) for f in DOMAIN_LIMIT_FIELDS}
    rows = {m.pk: effective_limits(_own(m), defaults, maximums) for m in mailboxes}
    day = sent_counts(rows, DAY)
    if day is None:
        return None
    hourly = [pk for pk, limits in rows.items() if limits["hourly_send_limit"]]
    hour = sent_counts(hourly, HOUR) if hourly else {}
    if hour is None:
        return None
    return {
        pk: SentCount(
            day=day[pk],
            hour=hour.get(pk),
            daily_limit=limits["daily_send_limit"],
            hourly_limit=limits["hourly_send_limit"],
        )
        for pk, limits in rows.items()
    }


def _own(mailbox: Mailbox) -> Mapping[str, int | None]:
    return {f: getattr(mailbox, f) for f in ACCOUNT_LIMIT_FIELDS}
