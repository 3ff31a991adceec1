from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from provisioning.node.paths import NodePaths
from provisioning.policy.guard_rules import GuardRules, rules_from_settings
from provisioning.policy.server import GuardSetup, serve, set_process_name


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(value)
    return host or "127.0.0.1", int(port)


class Command(BaseCommand):
    help = (
        "Run the sending-limits policy service for Postfix (check_policy_service) of the mail "
        "node whose state folder is --node-dir, until SIGTERM."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--listen", default="127.0.0.1:10040", help="host:port to serve on.")
        parser.add_argument(
            "--node-dir",
            type=Path,
            default=None,
            help="The node's state folder, whose policy/limits.d/ the agent writes and whose "
            "policy/state/ holds the service's fallback count (default: settings.MAILNODE_DIR).",
        )
        parser.add_argument(
            "--redis-url",
            default=None,
            help="Redis holding the sent counters (default: settings.SENDING_REDIS_URL).",
        )
        parser.add_argument(
            "--prefix",
            default=None,
            help="Key prefix of the counters, the same on every node "
            "(default: settings.SENDING_REDIS_PREFIX).",
        )
        parser.add_argument("--pid-file", type=Path, default=None, help="Write the pid here.")
        parser.add_argument(
            "--guard-listen",
            default=None,
            help="host:port of the password guard Dovecot asks (auth_policy_server_url); "
            "its Redis: settings.GUARD_REDIS_URL and GUARD_REDIS_PREFIX. Default: no guard.",
        )
        parser.add_argument(
            "--guard-rules", default=None, help="The guard's rules as JSON (default: settings)."
        )
        parser.add_argument("--node-name", default=None, help="This node's name (the panel's).")
        parser.add_argument(
            "--user", default=None, help="Run as this user once listening (when started as root)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            host, port = _listen(options["listen"])
        except ValueError:
            raise CommandError(f"--listen {options['listen']!r} is not host:port") from None
        guard = _guard(options) if options["guard_listen"] else None
        node = NodePaths(Path(options["node_dir"] or settings.MAILNODE_DIR).resolve())
        prefix = options["prefix"]
        if prefix is None:  # ("" is a prefix too)
            prefix = settings.SENDING_REDIS_PREFIX
        _log_to_stderr(verbose=options["verbosity"] >= 2)
        set_process_name()
        try:
            asyncio.run(
                serve(
                    host=host,
                    port=port,
                    limits_dir=node.policy_limits_dir,
                    state_dir=node.policy_state_dir,
                    redis_url=options["redis_url"] or settings.SENDING_REDIS_URL,
                    prefix=prefix,
                    pid_file=options["pid_file"],
                    user=options["user"],
                    guard=guard,
                )
            )
        except (OSError, KeyError, ValueError, sqlite3.Error) as exc:
            # A port in use, an unknown user, a bad Redis URL, an unusable state folder:
            # one line, exit 1.
            raise CommandError(f"policy service could not start: {exc}") from exc


def _guard(options: dict[str, Any]) -> GuardSetup:
    try:
        host, port = _listen(options["guard_listen"])
    except ValueError:
        raise CommandError(f"--guard-listen {options['guard_listen']!r} is not host:port") from None
    try:
        rules = (
            GuardRules.from_json(options["guard_rules"])
            if options["guard_rules"]
            else rules_from_settings()
        )
    except (ValueError, TypeError) as exc:
        raise CommandError(f"--guard-rules: {exc}") from None
    node = options["node_name"] or settings.DEFAULT_MAIL_NODE
    return GuardSetup(
        host, port, rules, settings.GUARD_REDIS_URL, settings.GUARD_REDIS_PREFIX, node
    )


def _log_to_stderr(*, verbose: bool) -> None:
    # The service logs refusals and Redis outages itself, whatever Django's LOGGING says.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s policyd[%(process)d] %(message)s"))
    logger = logging.getLogger("provisioning.policy")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
