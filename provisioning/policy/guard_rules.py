"""The password-guessing guard's rules and its one decision (pure: no I/O, no clock).

Dovecot asks the guard before every password check (and reports the result after it) over its
auth policy protocol (guard_http.py). Failures are counted per client (an IPv4 address, an IPv6
/64: one host of an attacker usually owns the whole /64) and per login name, over a window:

- a client's first `free_failures` failures cost nothing (typos); each further one doubles the
  delay Dovecot waits before checking the next password, up to `max_delay`;
- at `ban_after` failures in the window the client is banned for `ban_seconds`, doubled for
  each earlier ban in the last `offence_memory` seconds, up to `max_ban_seconds`; while banned
  every login from it is refused, the right password too;
- a login name with more than `account_free_failures` failures in the window (a run spread over
  many clients) delays every client that never logged in to it correctly before, so the owner's
  known addresses still log in at once while the run is slowed;
- `exempt` networks (the provider's monitoring, a webmail host that forwards the user's own
  address) are neither counted nor delayed.
The login name is counted whether or not the account exists, so the answer (and the time it
takes) never tells which names exist.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, field

GO_ON = 0
REFUSE = -1


@dataclass(frozen=True)
class GuardRules:
    window: int = 600
    free_failures: int = 3
    ban_after: int = 10
    ban_seconds: int = 3600
    max_ban_seconds: int = 7 * 86400
    offence_memory: int = 30 * 86400
    max_delay: int = 15
    account_free_failures: int = 20
    exempt: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("window", "ban_after", "ban_seconds", "max_ban_seconds", "offence_memory"):
            if getattr(self, name) < 1:
                raise ValueError(f"guard rule {name} must be at least 1")
        for name in ("free_failures", "max_delay", "account_free_failures"):
            if getattr(self, name) < 0:
                raise ValueError(f"guard rule {name} must not be negative")
        object.__setattr__(
            self, "exempt", tuple(str(ipaddress.ip_network(n, strict=False)) for n in self.exempt)
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> GuardRules:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("guard rules must be a JSON object")
        data["exempt"] = tuple(data.get("exempt") or ())
        return cls(**data)

    def is_exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(n) for n in self.exempt)

    def ban_length(self, earlier_bans: int) -> int:
        return min(self.max_ban_seconds, self.ban_seconds << min(earlier_bans, 20))


@dataclass(frozen=True)
class Seen:
    """What the counters say about one login attempt's client and login name."""

    client_failures: int  # in the window
    account_failures: int  # in the window, from every client
    banned: bool
    known: bool  # this client logged in to this name correctly before


def client_key(address: str) -> str | None:
    """The unit counted: the IPv4 address, or the IPv6 /64 ("2001:db8:1:2::/64"); an IPv4-
    mapped IPv6 address counts as its IPv4 address. None for what is no address."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def login_key(login: str) -> str:
    return login.strip().lower()[:320]


def answer(rules: GuardRules, seen: Seen) -> int:
    """Dovecot's status before a password check: GO_ON, REFUSE or seconds to wait."""
    if seen.banned or seen.client_failures >= rules.ban_after:
        return REFUSE
    delay = 0
    over = seen.client_failures - rules.free_failures
    if over > 0:
        delay = 2 ** min(over - 1, 10)
    over_account = seen.account_failures - rules.account_free_failures
    if over_account > 0 and not seen.known:
        delay = max(delay, 2 ** min(over_account - 1, 10))
    return min(delay, rules.max_delay)


def bans_now(rules: GuardRules, client_failures: int) -> bool:
    """Whether the failure just counted (the client's n-th in the window) earns a ban."""
    return client_failures >= rules.ban_after


def rules_from_settings() -> GuardRules:
    from django.conf import settings

    return GuardRules(
        window=settings.GUARD_WINDOW_SECONDS,
        free_failures=settings.GUARD_FREE_FAILURES,
        ban_after=settings.GUARD_BAN_AFTER,
        ban_seconds=settings.GUARD_BAN_SECONDS,
        max_delay=settings.GUARD_MAX_DELAY_SECONDS,
        account_free_failures=settings.GUARD_ACCOUNT_FREE_FAILURES,
        exempt=tuple(settings.GUARD_EXEMPT_NETWORKS),
    )
