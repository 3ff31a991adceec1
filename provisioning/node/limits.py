"""Sending limits on the node: one file per domain, written by the agent, read by the policy
service (provisioning/policy), which enforces them on the submission port.

`<node root>/policy/limits.d/<domain>.json` holds the accounts of the domain that have at least
one limit, as {"accounts": {"<local part>": [per hour, per 24 h, recipients per message]}}
(0 = no limit; the panel has already applied the domain's defaults). An account without a row,
or a domain without a file, has no limits. The format is defined here only: `render_limits`
writes it, `parse_limits` reads it.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from provisioning.node.render import RenderError
from provisioning.node.state import DomainState

# Far above any plan; a bigger number is a bug (or a tampered message), not a limit.
MAX_LIMIT = 100_000_000
# A domain name becomes a file name: no "/", no leading ".", nothing Postfix would not send.
SAFE_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")


class SendingLimits(NamedTuple):
    hourly: int
    daily: int
    max_recipients: int


def limits_file_name(domain: str) -> str | None:
    """The file name of a domain's limits, or None for a name that cannot be one."""
    if not SAFE_DOMAIN.fullmatch(domain) or ".." in domain:
        return None
    return f"{domain}.json"


def _check(address: str, what: str, value: object) -> int:
    # bool is an int to Python, and a JSON true is no limit anyone meant.
    if type(value) is not int or not 0 <= value <= MAX_LIMIT:
        raise RenderError(f"{address}: {what} must be a whole number 0..{MAX_LIMIT}, not {value!r}")
    return value


def render_limits(state: DomainState) -> str | None:
    """The domain's limits file, or None when no account has a limit (then no file)."""
    if limits_file_name(state.name) is None:
        raise RenderError(f"unsafe domain name {state.name!r}")
    accounts = {}
    for account in state.accounts:
        address = state.address(account)
        row = [
            _check(address, "the hourly sending limit", account.hourly_limit),
            _check(address, "the daily sending limit", account.daily_limit),
            _check(address, "the recipients limit", account.max_recipients),
        ]
        if any(row):
            accounts[account.local_part] = row
    if not accounts:
        return None
    return json.dumps({"accounts": accounts}, sort_keys=True, separators=(",", ":")) + "\n"


def parse_limits(text: str | bytes) -> dict[str, SendingLimits]:
    """Local part -> limits, from a file render_limits wrote (ValueError if it is not one)."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), dict):
        raise ValueError("not a limits file: no accounts object")
    limits = {}
    for local_part, row in data["accounts"].items():
        if not isinstance(row, list) or len(row) != 3:
            raise ValueError(f"not a limits file: bad row for {local_part!r}")
        values = [_check(local_part, "a limit", value) for value in row]
        limits[local_part.lower()] = SendingLimits(*values)
    return limits
