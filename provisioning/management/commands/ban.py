"""`manage.py ban list [--json] | add ADDRESS [--minutes N] [--reason TEXT] | remove ADDRESS`:
the password guard's bans, shared by every mail node (provisioning/login_guard.py)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from provisioning.login_guard import GuardUnavailable, ban, current_bans, unban
from tempusmail.cli import cli_actor, user_errors


class Command(BaseCommand):
    help = "List, add and remove the password guard's bans of client addresses."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="The addresses banned now.")
        listing.add_argument("--json", action="store_true")
        add = sub.add_parser("add", help="Ban an address (an IPv6 address: its /64).")
        add.add_argument("address")
        add.add_argument("--minutes", default="60")  # parsed here: bad input is exit 1
        add.add_argument("--reason", default="")
        remove = sub.add_parser("remove", help="Lift a ban; the address logs in at once.")
        remove.add_argument("address")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with user_errors():
                getattr(self, f"_{options['action']}")(options)
        except GuardUnavailable as exc:
            raise CommandError(str(exc)) from exc

    def _list(self, options: dict[str, Any]) -> None:
        bans = current_bans()
        if options["json"]:
            self.stdout.write(json.dumps([b.as_json() for b in bans], indent=2))
            return
        if not bans:
            self.stdout.write("No address is banned.")
        for b in bans:
            row = b.as_json()
            self.stdout.write(
                f"{b.address}  until {row['until']}  {b.failures} failures  {b.reason}"
            )

    def _add(self, options: dict[str, Any]) -> None:
        minutes = str(options["minutes"]).strip()
        if not minutes.isdigit():
            raise CommandError(f"minutes: {minutes!r} is not a whole number of minutes.")
        options["minutes"] = int(minutes)
        row = ban(actor=cli_actor(), address=options["address"], minutes=options["minutes"],
                  reason=options["reason"])  # fmt: skip
        self.stdout.write(f"Banned {row.address} until {row.as_json()['until']}.")

    def _remove(self, options: dict[str, Any]) -> None:
        unban(actor=cli_actor(), address=options["address"])
        self.stdout.write(f"Unbanned {options['address'].strip()}.")
