"""The decisions: what the policy service answers to one request.

At RCPT (for the SASL user; unauthenticated clients and accounts without limits get DUNNO,
i.e. "no opinion", and Postfix's other restrictions decide):
- the message is refused at its first recipient when the account has already sent its hourly
  or daily number of messages (one Redis round trip per message, not per recipient);
- a recipient beyond the per-message limit is refused, the earlier ones stay accepted.
At END-OF-MESSAGE, every authenticated message is counted with Postfix's recipient_count,
limits or not (the panel shows "sent in 24 h" for every account), under the account's id from
the limits file (the address only when the file has no id for it), so a re-created address
starts at zero.
When Redis cannot be reached, the node's own count stands in (fallback.py): accounts without
limits send as usual, accounts with limits are checked against it. Only when neither can be
read is the answer a temporary refusal, whose text blames the service, never the user.

Known approximations: two messages racing past the same count can both be accepted (the check
is at RCPT, the count at END-OF-MESSAGE), so a limit can be exceeded by the number of messages
in flight at once; and a recipient Postfix refuses after asking us (an unknown local address,
refused by smtpd_reject_unlisted_recipient) still uses one of the message's recipients.
"""

from __future__ import annotations

import logging

from provisioning.node.limits import SendingLimits
from provisioning.policy.counters import CountersUnavailable
from provisioning.policy.fallback import Counters
from provisioning.policy.limits_table import LimitsTable
from provisioning.policy.protocol import DUNNO, MalformedRequest, parse_request, reply

log = logging.getLogger(__name__)

# Messages whose END-OF-MESSAGE never came (RSET, QUIT, a refused DATA) are forgotten, oldest
# first, past this many; far more than the SMTP sessions a node has open at once.
MAX_OPEN_MESSAGES = 20_000

UNAVAILABLE = reply("DEFER_IF_PERMIT 4.3.0 Sending limits cannot be checked right now; try later")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def malformed(why: str) -> bytes:
    return reply(f"550 5.5.2 Malformed policy request: {why}")


class _Message:
    """What the service remembers of a message between its RCPT requests."""

    __slots__ = ("checked", "recipients")

    def __init__(self) -> None:
        self.recipients = 0  # recipients answered DUNNO so far
        self.checked = False  # the hourly/daily counts were found below the limits


class Policy:
    def __init__(self, limits: LimitsTable, counters: Counters) -> None:
        self.limits = limits
        self.counters = counters
        self._messages: dict[bytes, _Message] = {}

    async def decide(self, block: bytes) -> bytes:
        """The reply (bytes, ready to send) to one request."""
        try:
            attrs = parse_request(block)
        except MalformedRequest as exc:
            return malformed(str(exc))
        user = attrs.get(b"sasl_username")
        if not user:
            return DUNNO  # not authenticated: not ours to limit (nor to count)
        address = user.decode("utf-8", "replace").lower()
        state = attrs.get(b"protocol_state")
        try:
            if state == b"RCPT":
                return await self._rcpt(address, attrs.get(b"instance", b""))
            if state == b"END-OF-MESSAGE":
                return await self._end_of_message(address, attrs)
        except CountersUnavailable:
            return UNAVAILABLE
        return DUNNO

    async def _rcpt(self, address: str, instance: bytes) -> bytes:
        sender = self.limits.lookup(address)
        if sender is None or sender.limits is None:
            return DUNNO
        limits = sender.limits
        # (Postfix always sends an instance; without one, each recipient stands alone.)
        message = self._message(instance) if instance else _Message()
        if limits.max_recipients and message.recipients >= limits.max_recipients:
            log.info("refused a recipient of %s: more than %d", address, limits.max_recipients)
            return reply(
                f"550 5.5.3 Too many recipients: {address} may send a message to at most "
                f"{_count(limits.max_recipients, 'recipient')}"
            )
        if not message.checked and (limits.hourly or limits.daily):
            account = address if sender.account_id is None else str(sender.account_id)
            refusal = await self._over_rate(address, account, limits)
            if refusal:
                return refusal
        message.checked = True
        message.recipients += 1
        return DUNNO

    async def _over_rate(self, address: str, account: str, limits: SendingLimits) -> bytes | None:
        hour, day = await self.counters.sent(account, hour=bool(limits.hourly),
                                             day=bool(limits.daily))  # fmt: skip
        if limits.daily and day >= limits.daily:
            log.info("refused a message of %s: %d sent in 24 hours", address, day)
            return reply(
                f"550 5.7.1 Daily sending limit reached: {address} may send "
                f"{_count(limits.daily, 'message')} in 24 hours"
            )
        if limits.hourly and hour >= limits.hourly:
            log.info("refused a message of %s: %d sent in an hour", address, hour)
            return reply(
                f"550 5.7.1 Hourly sending limit reached: {address} may send "
                f"{_count(limits.hourly, 'message')} per hour"
            )
        return None

    async def _end_of_message(self, address: str, attrs: dict[bytes, bytes]) -> bytes:
        raw = attrs.get(b"recipient_count", b"")
        if not raw.isdigit():
            return malformed("recipient_count is not a number")
        self._messages.pop(attrs.get(b"instance", b""), None)
        sender = self.limits.lookup(address)
        account = address if sender is None or sender.account_id is None else str(sender.account_id)
        await self.counters.count(account, int(raw))
        return DUNNO

    def _message(self, instance: bytes) -> _Message:
        message = self._messages.get(instance)
        if message is None:
            if len(self._messages) >= MAX_OPEN_MESSAGES:
                del self._messages[next(iter(self._messages))]  # the oldest (dicts keep order)
            message = self._messages[instance] = _Message()
        return message
