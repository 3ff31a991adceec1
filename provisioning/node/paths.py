"""Where everything lives inside one mail node's state folder.

The node agent (which writes the data files) and the mailstack controller (which writes the
daemon configuration and starts Postfix and Dovecot) share this one layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Postfix maps the agent builds; main.cf/master.cf reference them as "<type>:<maps_dir>/<name>".
POSTFIX_MAPS = (
    "virtual_domains",
    "virtual_mailboxes",
    "virtual_aliases",
    "recipient_access",
    "sender_login",
)

# Dovecot passwd-files: dovecot.conf reads "<kind>.d/%d/%2Mu" (a folder per domain, sharded by
# the first two hex digits of the address's MD5). Refusals live in an SQLite table instead
# (provisioning/node/refusals.py says why).
DOVECOT_DOMAIN_FILES = ("users",)


@dataclass(frozen=True)
class NodePaths:
    root: Path

    @property
    def dovecot_dir(self) -> Path:
        return self.root / "dovecot"

    @property
    def dovecot_conf(self) -> Path:
        return self.dovecot_dir / "dovecot.conf"

    def dovecot_domain_dir(self, kind: str) -> Path:
        """users.d: a folder of shards per domain."""
        assert kind in DOVECOT_DOMAIN_FILES
        return self.dovecot_dir / f"{kind}.d"

    @property
    def dovecot_refusals_db(self) -> Path:
        return self.dovecot_dir / "refusals.sqlite"

    @property
    def dovecot_refusals_conf(self) -> Path:
        """The deny passdb's SQL settings (driver, database, query)."""
        return self.dovecot_dir / "refusals-sql.conf.ext"

    @property
    def dovecot_masters(self) -> Path:
        return self.dovecot_dir / "masters"

    @property
    def postfix_dir(self) -> Path:
        """Postfix's config directory (main.cf, master.cf) for `postfix -c`."""
        return self.root / "postfix"

    @property
    def postfix_master_pid(self) -> Path:
        return self.postfix_dir / "queue" / "pid" / "master.pid"

    @property
    def dovecot_master_pid(self) -> Path:
        return self.run_dir / "dovecot" / "master.pid"

    @property
    def maps_dir(self) -> Path:
        return self.postfix_dir / "maps"

    @property
    def mail_dir(self) -> Path:
        """Mailbox homes: <mail_dir>/<domain>/<local part>/."""
        return self.root / "mail"

    @property
    def trash_dir(self) -> Path:
        """Homes of deleted mailboxes wait here (same filesystem, so moving is a rename)."""
        return self.root / "trash"

    @property
    def sieve_admin_dir(self) -> Path:
        return self.root / "sieve-admin"

    @property
    def agent_dir(self) -> Path:
        """The agent's own memory: last applied state and map fragments per domain."""
        return self.root / "agent"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def ports_file(self) -> Path:
        return self.root / "ports.json"

    @property
    def policy_dir(self) -> Path:
        """The sending-limits policy service's folder (its limits, pid file)."""
        return self.root / "policy"

    @property
    def policy_limits_dir(self) -> Path:
        """<domain>.json per domain with sending limits (provisioning/node/limits.py)."""
        return self.policy_dir / "limits.d"

    @property
    def policy_state_dir(self) -> Path:
        """The policy service's own: its fallback count and status files (policy/status.py)."""
        return self.policy_dir / "state"

    @property
    def rspamd_dir(self) -> Path:
        """The node's private rspamd: its configuration (local.d/), database and keys."""
        return self.root / "rspamd"

    @property
    def rspamd_dkim_dir(self) -> Path:
        """DKIM private keys, <domain>.<selector>.key (root:_rspamd 0640; the agent's)."""
        return self.rspamd_dir / "dkim"

    @property
    def rspamd_selector_map(self) -> Path:
        """ "domain selector" lines: which key signs each domain (the agent's)."""
        return self.rspamd_dir / "dkim_selectors.map"

    @property
    def rspamd_spam_scores_map(self) -> Path:
        """ "domain junk:reject" lines: each domain's spam scores (the agent's)."""
        return self.rspamd_dir / "spam_scores.map"

    def home(self, domain: str, local_part: str) -> Path:
        return self.mail_dir / domain / local_part
