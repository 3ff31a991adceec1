"""Sending limits on the node: one file per domain, written by the agent, read by the policy
service (provisioning/policy), which enforces them on the submission port.

`<node root>/policy/limits.d/<domain>.json` holds every account of the domain, as
{"version": 2, "accounts": {"<local part>": [mailbox id, per hour, per 24 h, recipients per
message]}} (0 = no limit; the panel has already applied the domain's defaults). The id is what
the policy service keys the account's sent counter by (provisioning/sent_counter.py), so it is
there for accounts without limits too. A domain without accounts has no file. Files written
before version 2 ({"accounts": {"<local part>": [per hour, per 24 h, recipients]}}, only the
accounts with a limit) are still read, without ids, until the agent next applies the domain.
The format is defined here only: `render_limits` writes it, `parse_limits` reads it.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from provisioning.node.render import RenderError
from provisioning.node.state import DomainState

# Far above any plan; a bigger number is a bug (or a tampered message), not a limit.
MAX_LIMIT = 100_000_000
MAX_ID = 2**63 - 1  # a BigAutoField
# A domain name becomes a file name: no "/", no leading ".", nothing Postfix would not send.
SAFE_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")


FORMAT_VERSION = 2


class SendingLimits(NamedTuple):
    hourly: int
    daily: int
    max_recipients: int


class Sender(NamedTuple):
    """What the policy service knows of one account."""

    account_id: int | None  # None: read from a file written before ids were in it
    limits: SendingLimits | None  # None: no limit at all


def limits_file_name(domain: str) -> str | None:
    """The file name of a domain's limits, or None for a name that cannot be one."""
    if not SAFE_DOMAIN.fullmatch(domain) or ".." in domain:
        return None
    return f"{domain}.json"


def _check(address: str, what: str, value: object, maximum: int = MAX_LIMIT) -> int:
    # bool is an int to Python, and a JSON true is no limit anyone meant.
    if type(value) is not int or not 0 <= value <= maximum:
        raise RenderError(f"{address}: {what} must be a whole number 0..{maximum}, not {value!r}")
    return value


def _fine(value: object, maximum: int = MAX_LIMIT) -> bool:
    return type(value) is int and 0 <= value <= maximum


def render_limits(state: DomainState) -> str | None:
    """The domain's limits file, or None when it has no account (then no file)."""
    if limits_file_name(state.name) is None:
        raise RenderError(f"unsafe domain name {state.name!r}")
    accounts = {}
    for account in state.accounts:
        row = [account.id, account.hourly_limit, account.daily_limit, account.max_recipients]
        # (The quick test first: a 100k-account domain is rendered in every apply.)
        if not (_fine(row[0], MAX_ID) and _fine(row[1]) and _fine(row[2]) and _fine(row[3])):
            address = state.address(account)
            _check(address, "the account id", account.id, MAX_ID)
            _check(address, "the hourly sending limit", account.hourly_limit)
            _check(address, "the daily sending limit", account.daily_limit)
            _check(address, "the recipients limit", account.max_recipients)
        accounts[account.local_part] = row
    if not accounts:
        return None
    data = {"version": FORMAT_VERSION, "accounts": accounts}
    return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"


def parse_limits(text: str | bytes) -> dict[str, Sender]:
    """Local part -> Sender, from a file render_limits wrote (ValueError if it is not one)."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), dict):
        raise ValueError("not a limits file: no accounts object")
    with_ids = data.get("version") == FORMAT_VERSION
    if not with_ids and "version" in data:
        raise ValueError(f"not a limits file: unknown version {data['version']!r}")
    senders = {}
    for local_part, row in data["accounts"].items():
        if not with_ids:
            row = [None, *row] if isinstance(row, list) else row
        if not isinstance(row, list) or len(row) != 4:
            raise ValueError(f"not a limits file: bad row for {local_part!r}")
        account_id, hourly, daily, recipients = row
        if not ((_fine(account_id, MAX_ID) or not with_ids) and _fine(hourly)
                and _fine(daily) and _fine(recipients)):  # fmt: skip
            raise ValueError(f"not a limits file: bad values for {local_part!r}: {row!r}")
        limits = SendingLimits(hourly, daily, recipients) if hourly or daily or recipients else None
        senders[local_part.lower()] = Sender(account_id, limits)
    return senders
