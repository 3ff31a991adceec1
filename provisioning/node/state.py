"""Desired state of one domain on a mail node, as it travels from the panel to the agent.

Plain frozen dataclasses that serialise to JSON: the node agent needs no access to the panel's
database, everything it writes is derived from one DomainState.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from operator import attrgetter
from typing import Any


@dataclass(frozen=True)
class AccountState:
    id: int
    local_part: str
    password_hash: str
    active: bool = True
    quota_bytes: int = 0
    # A no-reply account sends (SMTP AUTH) but has no mailbox: inbound mail is refused.
    noreply: bool = False
    # Expired password: every protocol login is refused (mail is still received).
    password_expired: bool = False
    # Networks allowed to log in (IMAP, POP3, SMTP AUTH); empty means from anywhere.
    allow_nets: tuple[str, ...] = ()
    # Dovecot service names this account may not log in to (imap, pop3, smtp, sieve, ...).
    denied_services: tuple[str, ...] = ()
    # Forwarding (Postfix virtual alias): targets, and whether the account keeps a copy.
    forward_to: tuple[str, ...] = ()
    forward_keep_copy: bool = True
    spam_to_inbox: bool = False
    # Autoresponder, when on: the user's subject and body, and the interval in UTC
    # ("YYYY-MM-DDTHH:MM:SS", "" for an open end).
    autoreply: bool = False
    autoreply_subject: str = ""
    autoreply_body: str = ""
    autoreply_start: str = ""
    autoreply_end: str = ""
    # Sending limits enforced by the policy service (0 = no limit): messages per sliding hour
    # and 24 hours, recipients per message. The panel resolves domain defaults before sending.
    hourly_limit: int = 0
    daily_limit: int = 0
    max_recipients: int = 0


ACCOUNT_FIELDS = [f.name for f in fields(AccountState)]


_account_row = attrgetter(*ACCOUNT_FIELDS)
_TUPLE_FIELDS = ("allow_nets", "denied_services", "forward_to")  # JSON has lists
_TUPLE_POSITIONS = [ACCOUNT_FIELDS.index(name) for name in _TUPLE_FIELDS]


def _account_from_row(row: list[Any] | tuple[Any, ...]) -> AccountState:
    values = list(row)
    for i in _TUPLE_POSITIONS:
        values[i] = tuple(values[i] or ())
    return AccountState(*values)


def _account(values: dict[str, Any]) -> AccountState:
    for name in _TUPLE_FIELDS:
        values[name] = tuple(values.get(name) or ())
    return AccountState(**values)


@dataclass(frozen=True)
class DkimSigning:
    """A key the node signs the domain's mail with (issue 15). private_key is PEM; the agent
    writes it only into rspamd's key folder and keeps it out of its own memory."""

    selector: str
    algorithm: str
    private_key: str


@dataclass(frozen=True)
class DomainState:
    # id tells a re-created domain of the same name from the old one (versions restart).
    id: int
    name: str
    version: int
    accounts: tuple[AccountState, ...] = field(default_factory=tuple)
    # Address that receives mail for unknown local parts of the domain ("" = none).
    catchall_target: str = ""
    dkim: tuple[DkimSigning, ...] = ()
    # Inbound spam scores (rspamd): junk from, reject from.
    spam_junk: float = 6.0
    spam_reject: float = 15.0

    def address(self, account: AccountState) -> str:
        return f"{account.local_part}@{self.name}"

    def to_json(self) -> dict[str, Any]:
        # Accounts as rows, not objects: a 100k-account domain stays a few MB and fast to parse.
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "catchall_target": self.catchall_target,
            "account_fields": ACCOUNT_FIELDS,
            "accounts": [_account_row(a) for a in self.accounts],
            "dkim": [
                {"selector": k.selector, "algorithm": k.algorithm, "private_key": k.private_key}
                for k in self.dkim
            ],
            "spam_junk": self.spam_junk,
            "spam_reject": self.spam_reject,
        }

    def without_secrets(self) -> DomainState:
        """The state with its DKIM private keys blanked: what the agent remembers."""
        return replace(self, dkim=tuple(replace(k, private_key="") for k in self.dkim))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DomainState:
        fields = data["account_fields"]
        if fields == ACCOUNT_FIELDS:  # the fast path: rows in today's field order
            accounts = tuple(_account_from_row(row) for row in data["accounts"])
        else:  # written by an older agent: match by name, defaults for new fields
            accounts = tuple(
                _account(dict(zip(fields, row, strict=True))) for row in data["accounts"]
            )
        return cls(
            id=int(data["id"]),
            name=data["name"],
            version=int(data["version"]),
            accounts=accounts,
            catchall_target=data.get("catchall_target", ""),
            dkim=tuple(
                DkimSigning(str(k["selector"]), str(k["algorithm"]), str(k["private_key"]))
                for k in data.get("dkim", ())
            ),
            spam_junk=float(data.get("spam_junk", 6.0)),
            spam_reject=float(data.get("spam_reject", 15.0)),
        )


@dataclass(frozen=True)
class ApplyPlan:
    """The steps of one apply, in the order MAILSTACK.md proves necessary.

    Postfix first stops accepting what goes away (and does not yet accept what is new), then
    Dovecot learns the new state, open sessions of removed or disabled accounts are cut, homes
    of deleted accounts move aside, and only then Postfix accepts mail for new accounts. So
    mail is never accepted for a user LMTP cannot deliver to, and a deleted user's mail never
    lands in a re-created address's home.
    """

    final: DomainState
    postfix_first: DomainState  # is `final` itself when nothing new or reactivated
    dovecot_first: DomainState  # is `final` itself when no account went away
    kick: tuple[str, ...]
    move_homes: tuple[str, ...]


def plan_apply(old: DomainState | None, new: DomainState) -> ApplyPlan:
    old_accounts = {a.local_part: a for a in old.accounts} if old else {}
    new_accounts = {a.local_part: a for a in new.accounts}

    def same_account(local_part: str) -> bool:
        prev, cur = old_accounts.get(local_part), new_accounts.get(local_part)
        return prev is not None and cur is not None and prev.id == cur.id

    gone = [lp for lp in old_accounts if not same_account(lp)]  # deleted or re-created
    gone_set = set(gone)
    kick = [
        new.address(old_accounts[lp])
        for lp in old_accounts
        if old_accounts[lp].active and (lp in gone_set or not new_accounts[lp].active)
    ]

    postfix_first: list[AccountState] = []
    held_back = False
    for account in new.accounts:
        if not same_account(account.local_part):
            held_back = True  # new to Postfix only once Dovecot knows it
            continue
        if account.active and not old_accounts[account.local_part].active:
            held_back = True
            postfix_first.append(replace(account, active=False))  # reactivated: still rejected
        else:
            postfix_first.append(account)

    return ApplyPlan(
        final=new,
        postfix_first=replace(new, accounts=tuple(postfix_first)) if held_back else new,
        dovecot_first=(
            replace(new, accounts=tuple(a for a in new.accounts if a.local_part not in gone_set))
            if gone
            else new
        ),
        kick=tuple(sorted(kick)),
        move_homes=tuple(sorted(gone)),
    )
