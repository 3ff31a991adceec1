from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from domains.models import Domain
from domains.validators import normalize_domain_name
from imports.cli import add_import_arguments, run_import
from mailboxes import services
from mailboxes.cli_update import add_update_arguments, changes_from_options
from mailboxes.cli_usage import usage_lines, usage_report
from mailboxes.models import Mailbox, MailboxKind
from mailboxes.passwords import generate_password
from mailboxes.selectors import mailbox_by_address
from mailboxes.validators import format_size, parse_size, split_address
from tempusmail.cli import cli_actor, read_password_stdin, user_errors


class Command(BaseCommand):
    help = "Manage mailboxes (e-mail accounts)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a mailbox.")
        create.add_argument("address")
        create.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from the first line of stdin (else one is generated).",
        )
        create.add_argument(
            "--quota", help="Storage quota, e.g. 500M, 2G; 0 = unlimited (default: the domain's)."
        )
        create.add_argument(
            "--kind", choices=MailboxKind.values, default=MailboxKind.PERSON,
            help="noreply: may only send (SMTP AUTH); inbound mail is refused with a 550.",
        )  # fmt: skip
        create.add_argument("--first-name", default="", help="Name or description.")
        create.add_argument("--last-name", default="")
        setpw = sub.add_parser("set-password", help="Change a mailbox's password.")
        setpw.add_argument("address")
        setpw.add_argument("--password-stdin", action="store_true", required=True)
        add_update_arguments(sub.add_parser("update", help="Change a mailbox's settings."))
        for action in ("deactivate", "reactivate", "delete"):
            sub.add_parser(action, help=f"{action.capitalize()} a mailbox.").add_argument("address")
        usage = sub.add_parser(
            "usage", help="Storage used, last access and messages sent in 24 h and 1 h."
        )
        usage.add_argument("address")
        usage.add_argument("--json", action="store_true")
        add_import_arguments(
            sub.add_parser("import", help="Create accounts from a CSV file (as the page does).")
        )
        listing = sub.add_parser("list", help="List a domain's mailboxes and their state.")
        listing.add_argument("domain")
        listing.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"].replace("-", "_")
        with user_errors():
            getattr(self, f"_{action}")(options)

    def _create(self, options: dict[str, Any]) -> None:
        local_part, domain_name = split_address(options["address"])
        quota = None
        if options["quota"] is not None:
            try:
                quota = parse_size(options["quota"])
            except ValidationError as exc:
                raise ValidationError({"quota": exc.messages}) from exc
        domain = Domain.objects.select_related("organization").filter(name=domain_name).first()
        if domain is None:
            raise CommandError(f"domain: no domain {domain_name}; create it first.")
        generated = not options["password_stdin"]
        password = generate_password() if generated else read_password_stdin()
        mailbox = services.mailbox_create(
            actor=cli_actor(),
            domain=domain,
            local_part=local_part,
            password=password,
            quota_bytes=quota,
            first_name=options["first_name"],
            last_name=options["last_name"],
            kind=MailboxKind(options["kind"]),
        )
        self.stdout.write(f"created {mailbox.address} (quota {format_size(mailbox.quota_bytes)})")
        if generated:
            self.stdout.write(f"password: {password}")

    def _update(self, options: dict[str, Any]) -> None:
        mailbox = mailbox_by_address(options["address"])
        changes = changes_from_options(options, time_zone=mailbox.time_zone)
        if not changes:
            raise CommandError("nothing to change: give at least one option (see --help).")
        before = mailbox.changed_version
        mailbox = services.mailbox_update(actor=cli_actor(), mailbox=mailbox, changes=changes)
        changed = "updated" if mailbox.changed_version != before else "unchanged"
        self.stdout.write(f"{changed} {mailbox.address}")

    def _set_password(self, options: dict[str, Any]) -> None:
        mailbox = mailbox_by_address(options["address"])
        services.mailbox_set_password(
            actor=cli_actor(), mailbox=mailbox, password=read_password_stdin()
        )
        self.stdout.write(f"password changed for {mailbox.address}")

    def _deactivate(self, options: dict[str, Any]) -> None:
        mailbox = services.mailbox_deactivate(
            actor=cli_actor(), mailbox=mailbox_by_address(options["address"])
        )
        self.stdout.write(f"deactivated {mailbox.address}")

    def _reactivate(self, options: dict[str, Any]) -> None:
        mailbox = services.mailbox_reactivate(
            actor=cli_actor(), mailbox=mailbox_by_address(options["address"])
        )
        self.stdout.write(f"reactivated {mailbox.address}")

    def _delete(self, options: dict[str, Any]) -> None:
        mailbox = mailbox_by_address(options["address"])
        address = mailbox.address
        services.mailbox_delete(actor=cli_actor(), mailbox=mailbox)
        self.stdout.write(f"deleted {address}")

    def _usage(self, options: dict[str, Any]) -> None:
        report = usage_report(mailbox_by_address(options["address"]))
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write("\n".join(usage_lines(report)))

    def _import(self, options: dict[str, Any]) -> None:
        run_import(options, self.stdout.write)

    def _list(self, options: dict[str, Any]) -> None:
        domain_name = normalize_domain_name(options["domain"])
        domain = Domain.objects.filter(name=domain_name).first()
        if domain is None:
            raise CommandError(f"domain: no domain {domain_name}.")
        rows = []
        for mailbox in (
            Mailbox.objects.filter(domain=domain).select_related("domain").order_by("local_part")
        ):
            rows.append(
                {
                    "address": mailbox.address,
                    "status": mailbox.sync_status.value,
                    "state": mailbox.state,
                    "quota": format_size(mailbox.quota_bytes),
                    "error": mailbox.sync_error,
                }
            )
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            error = f"\terror: {row['error']}" if row["error"] else ""
            self.stdout.write(f"{row['address']}\t{row['status']}\t{row['quota']}{error}")
