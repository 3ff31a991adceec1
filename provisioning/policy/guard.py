"""The guard's answers to Dovecot's auth policy requests (the rules are in guard_rules.py).

Dovecot sends, as JSON, the attributes of auth_policy_request_attributes (dovecot.conf): the
login name, the client address (`remote`, %{rip}: for a trusted proxy such as the webmail, the
user's own address it forwards) and the protocol. "allow" comes before the password is checked
and again after a correct one; "report" after the check, with `success` and `policy_reject`.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from provisioning.policy.guard_rules import (
    GO_ON,
    REFUSE,
    GuardRules,
    answer,
    bans_now,
    client_key,
    login_key,
)
from provisioning.policy.guard_store import GuardStore

log = logging.getLogger(__name__)


@dataclass
class GuardMetrics:
    checks: int = 0
    failures: int = 0
    delays: int = 0
    refusals: int = 0
    bans: int = 0


class Guard:
    def __init__(self, rules: GuardRules, store: GuardStore) -> None:
        self.rules, self.store = rules, store
        self.metrics = GuardMetrics()

    async def allow(self, request: dict[str, Any]) -> int:
        """The status for Dovecot: 0 go on, N > 0 wait N seconds first, -1 refuse."""
        client = client_key(str(request.get("remote") or ""))
        if client is None or self.rules.is_exempt(client.split("/")[0]):
            return GO_ON
        self.metrics.checks += 1
        login, now = login_key(str(request.get("login") or "")), time.time()
        session = _session(request)
        attempt = session or _fresh_attempt()
        seen = await self.store.attempt(client, login, attempt, now)
        if session is None:
            # Nothing ties this check to its report (Postfix's SASL requests carry no session
            # id): a correct login could never take its attempt back, so the failure is counted
            # when it is reported instead.
            await self.store.refused(client, attempt)
        status = answer(self.rules, seen)
        if status == REFUSE:
            self.metrics.refusals += 1
            if not seen.banned:  # over the limit with the attempts under way
                await self._ban(client, login, seen.client_failures + 1, now)
        elif status > 0:
            self.metrics.delays += 1
        return status

    async def report(self, request: dict[str, Any]) -> None:
        client = client_key(str(request.get("remote") or ""))
        if client is None or self.rules.is_exempt(client.split("/")[0]):
            return
        login, now = login_key(str(request.get("login") or "")), time.time()
        session = _session(request)
        if request.get("success") is True:
            await self.store.success(client, login, session or _fresh_attempt(), now)
            return
        if request.get("policy_reject") is True:
            if session is not None:
                await self.store.refused(client, session)  # no password was checked
            return
        self.metrics.failures += 1
        if session is None:  # not counted when it was asked (allow): count it now
            await self.store.attempt(client, login, _fresh_attempt(), now)
        protocol = str(request.get("protocol") or "")[:20]
        failures = await self.store.failure(client, login, protocol, now)
        if bans_now(self.rules, failures):
            await self._ban(client, login, failures, now)

    async def _ban(self, client: str, login: str, failures: int, now: float) -> None:
        reason = f"{failures} failed logins in {self.rules.window} s"
        ban = await self.store.ban(client, reason, failures, now)
        if ban is not None:
            self.metrics.bans += 1
            log.warning("guard: banned %s until %s (%s, last login name %r)", client,
                        time.ctime(ban.until), ban.reason, login)  # fmt: skip


def _session(request: dict[str, Any]) -> str | None:
    """The attempt's own name: Dovecot's session id, the same in its before-auth check, its
    after-auth check and its report (IMAP, POP3, ManageSieve; not Postfix's SMTP AUTH)."""
    return str(request.get("session") or "")[:64] or None


def _fresh_attempt() -> str:
    return f"{time.time_ns()}:{secrets.token_hex(4)}"
