from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from provisioning.mailstack.controller import MailStack, MailStackError
from provisioning.mailstack.profile import postfix_address
from provisioning.node.files import NodeFileError
from provisioning.services import apply_lagging_now, local_mode


class Command(BaseCommand):
    help = (
        "Start, stop or inspect the private Postfix + Dovecot serving a mail node's state folder."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action",
            choices=["start", "stop", "status", "reload-certs"],
            help="reload-certs: pick up new or renewed certificate files without dropping "
            "a session (the node's, and <state dir>/tls/sni/NAME.crt + NAME.key).",
        )
        parser.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="The node's state folder (default: settings.MAILNODE_DIR).",
        )
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        root = options["state_dir"] or Path(settings.MAILNODE_DIR)
        stack = MailStack(root, map_type=settings.MAILNODE_MAP_TYPE)
        try:
            if options["action"] == "start":
                self._start(stack, as_json=options["json"])
            elif options["action"] == "reload-certs":
                names = stack.reload_certs()
                self.stdout.write(f"reloaded certificates; SNI: {', '.join(names) or 'none'}")
            elif options["action"] == "stop":
                stack.stop()
                self.stdout.write(f"stopped {stack.root}")
            else:
                self._status(stack, as_json=options["json"])
        except MailStackError as exc:
            if options["verbosity"] >= 2 and exc.details:
                self.stderr.write(exc.details)
            raise CommandError(exc.summary) from exc
        except (NodeFileError, OSError) as exc:
            raise CommandError(f"mailstack {options['action']} failed: {exc}") from exc

    def _start(self, stack: MailStack, *, as_json: bool) -> None:
        ports = stack.start()
        sent, failed = self._catch_up(stack)
        if as_json:
            self.stdout.write(json.dumps({"root": str(stack.root), "ports": ports}))
        else:
            for name, address, port in stack.profile.listeners(ports):
                self.stdout.write(f"{name} {postfix_address(address, port)}")
            self.stdout.write(f"state dir {stack.root}")
            if sent:
                self.stdout.write(f"applied {sent - len(failed)} of {sent} waiting domain(s)")
        for line in failed:
            self.stderr.write(f"still failing: {line}")

    def _catch_up(self, stack: MailStack) -> tuple[int, list[str]]:
        """Local mode (`make run`) has no beat to retry what the node could not apply while
        the servers were down: apply it now. Elsewhere (a worker, a separate mail node with
        no database) the reconcile task does this."""
        if not local_mode() or stack.root != Path(settings.MAILNODE_DIR).resolve():
            return 0, []
        try:
            return apply_lagging_now()
        except DatabaseError:  # started before `migrate`: there is nothing to apply yet
            return 0, []

    def _status(self, stack: MailStack, *, as_json: bool) -> None:
        status = stack.status()
        if as_json:
            self.stdout.write(json.dumps(status))
        elif status["running"]:
            ports = " ".join(f"{name}={port}" for name, port in status["ports"].items())
            self.stdout.write(f"running {status['root']} {ports}")
        else:
            # Half a stack (one daemon up) counts as stopped: `start` restarts it cleanly.
            up = [name for name in ("postfix", "dovecot", "policy") if status[name]]
            extra = f" ({' and '.join(up)} still up)" if up else ""
            self.stdout.write(f"stopped {status['root']}{extra}")
