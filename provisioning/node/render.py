"""Pure renderers: a DomainState in, the text of Postfix maps and Dovecot passwd-files out.

Every value is checked against a strict pattern before it is written, so that nothing that
slipped past the panel's validation (or a tampered message) can add a line, a field or a
command to a file the mail servers trust. A bad value raises RenderError; nothing is written.
"""

from __future__ import annotations

import re

from provisioning.node.state import AccountState, DomainState

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
_LOCAL_PART = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]{0,62}[a-z0-9_])?$")
_SHA512_CRYPT = re.compile(r"^\$6\$(rounds=[0-9]{1,9}\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$")


class RenderError(ValueError):
    """A value would be unsafe to write into a mail server's file."""


def _check_domain(state: DomainState) -> str:
    if not _DOMAIN.match(state.name):
        raise RenderError(f"unsafe domain name {state.name!r}")
    return state.name


def _check_account(state: DomainState, account: AccountState) -> str:
    if not _LOCAL_PART.match(account.local_part) or ".." in account.local_part:
        raise RenderError(f"unsafe local part {account.local_part!r} in {state.name}")
    if not _SHA512_CRYPT.match(account.password_hash):
        raise RenderError(f"password hash of {account.local_part}@{state.name} is not SHA512-CRYPT")
    if not isinstance(account.quota_bytes, int) or account.quota_bytes < 0:
        raise RenderError(f"bad quota for {account.local_part}@{state.name}")
    return f"{account.local_part}@{_check_domain(state)}"


def _lines(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _quota_rule(quota_bytes: int) -> str:
    # Dovecot's quota rule takes a unit; round up to whole KiB so a limit is never loosened.
    kib = -(-quota_bytes // 1024)
    return f"userdb_quota_rule=*:storage={kib}K"


def render_dovecot_users(state: DomainState) -> str:
    """passwd-file used as passdb and userdb: user:password:uid:gid:gecos:home:shell:extra."""
    lines = []
    for account in sorted(state.accounts, key=lambda a: a.local_part):
        address = _check_account(state, account)
        extra = [_quota_rule(account.quota_bytes)] if account.quota_bytes else []
        lines.append(f"{address}:{{SHA512-CRYPT}}{account.password_hash}::::::{' '.join(extra)}")
    return _lines(lines)


def render_dovecot_deny(state: DomainState) -> str:
    """Keys "<service>/<user>" refused by the deny passdb (per-protocol switches come later)."""
    for account in state.accounts:
        _check_account(state, account)
    return ""


def render_dovecot_disabled(state: DomainState) -> str:
    """Deactivated accounts: every login refused, whatever the protocol."""
    return _lines(sorted(_check_account(state, a) for a in state.accounts if not a.active))


def render_dovecot(state: DomainState) -> dict[str, str]:
    return {
        "users": render_dovecot_users(state),
        "deny": render_dovecot_deny(state),
        "disabled": render_dovecot_disabled(state),
    }


def render_postfix(state: DomainState) -> dict[str, str]:
    """This domain's lines of each node-wide Postfix map (the agent concatenates domains)."""
    domain = _check_domain(state)
    accounts = sorted(state.accounts, key=lambda a: a.local_part)
    addresses = [(_check_account(state, a), a) for a in accounts]
    return {
        "virtual_domains": _lines([f"{domain} OK"]),
        "virtual_mailboxes": _lines([f"{addr} {domain}/{a.local_part}/" for addr, a in addresses]),
        "virtual_aliases": "",
        "recipient_access": _lines(
            [f"{addr} 550 5.2.1 Mailbox disabled" for addr, a in addresses if not a.active]
        ),
        "sender_login": _lines([f"{addr} {addr}" for addr, a in addresses]),
    }
