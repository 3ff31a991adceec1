"""`manage.py queue list|retry|delete`: the mail nodes' queues, through the loop.

`list` asks every node for a fresh report and waits for it (--wait seconds, default 10); a node
that does not answer in time is named on stderr and its last report is shown. `retry` and
`delete` act on the ids of the last report (list first), audited like the panel's buttons.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils import timezone

from domains.models import Domain
from provisioning import queue
from provisioning.models import MailNode, QueuedMessage
from tempusmail.cli import cli_actor, user_errors


class OneLineParser(CommandParser):
    """Bad usage is one line on stderr and exit status 1, like every other refusal here
    (argparse's own error prints the whole usage and exits 2)."""

    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            sys.stderr.write(f"{self.prog}: {message}\n")
            sys.exit(1)
        raise CommandError(f"Error: {message}")


class Command(BaseCommand):
    help = "List the mail nodes' queued messages; retry or delete them."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = OneLineParser  # the top level too: `queue frob`
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
        listing = sub.add_parser("list", help="Queued messages (asks the nodes first).")
        listing.add_argument("--domain", help="Only this domain's messages.")
        listing.add_argument("--json", action="store_true")
        listing.add_argument(
            "--wait", type=float, default=10.0, help="Seconds to wait for the nodes' reports."
        )
        retry = sub.add_parser("retry", help="Try delivering now.")
        retry.add_argument("id", nargs="?", help="A queue id from `queue list`.")
        retry.add_argument("--all", action="store_true", help="Every queued message.")
        retry.add_argument("--domain", help="With --all: only this domain's messages.")
        delete = sub.add_parser("delete", help="Delete a queued message (no bounce is sent).")
        delete.add_argument("id")

    def handle(self, *args: Any, **options: Any) -> None:
        with user_errors():
            getattr(self, f"_{options['action']}")(options)

    # ----- list ------------------------------------------------------------------------------

    def _list(self, options: dict[str, Any]) -> None:
        messages = self._scope(options.get("domain"))
        nodes = list(MailNode.objects.all())
        before = {node.pk: queue.reported_at(node) for node in nodes}
        asked = timezone.now()  # reports are stamped with the panel's clock when they arrive
        queue.request_queue_reports(nodes)
        for node in queue.wait_for_reports(nodes, asked, timeout=options["wait"]):
            seen = before[node.pk]
            when = f"its report of {seen:%Y-%m-%d %H:%M:%S}" if seen else "nothing (no report yet)"
            self.stderr.write(f"node {node.name} did not answer; showing {when}")
        rows = [_row(m) for m in messages.order_by("arrival", "queue_id")]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            recipients = ", ".join(row["recipients"])
            self.stdout.write(
                f"{row['id']}  {row['node']}  {row['state']}  {row['arrival']}  "
                f"{row['sender'] or '<>'} -> {recipients}  {row['reason']}".rstrip()
            )
        if not rows:
            self.stdout.write("no queued messages")

    def _scope(self, domain_name: str | None) -> QuerySet[QueuedMessage]:
        messages = QueuedMessage.objects.select_related("node", "domain")
        if domain_name is None:
            return messages
        name = domain_name.strip().lower().rstrip(".")
        if not Domain.objects.filter(name=name).exists():
            raise CommandError(f"domain: no domain {domain_name}.")
        return messages.filter(domain__name=name)

    # ----- retry and delete ------------------------------------------------------------------

    def _retry(self, options: dict[str, Any]) -> None:
        if options["all"]:
            if options["id"]:
                raise CommandError("retry: give an id or --all, not both.")
            messages = list(self._scope(options["domain"]).select_related("domain__organization"))
            if not messages:
                self.stdout.write("no queued messages to retry")
                return
        else:
            if not options["id"]:
                raise CommandError("retry: give a queue id (see `queue list`) or --all.")
            if options["domain"]:
                raise CommandError("retry: --domain goes with --all.")
            messages = self._by_id(options["id"])
        count = queue.queue_retry(actor=cli_actor(), messages=messages)
        self.stdout.write(f"retry asked for {count} message(s)")

    def _delete(self, options: dict[str, Any]) -> None:
        count = queue.queue_delete(actor=cli_actor(), messages=self._by_id(options["id"]))
        self.stdout.write(f"delete asked for {count} message(s)")

    def _by_id(self, queue_id: str) -> list[QueuedMessage]:
        messages = queue.messages_matching(queue_id.strip())
        if not messages:
            raise CommandError(f"id: no queued message {queue_id} (see `queue list`).")
        if len(messages) > 1:
            nodes = ", ".join(m.node.name for m in messages)
            raise CommandError(f"id: {queue_id} is queued on several nodes ({nodes}).")
        return messages


def _row(message: QueuedMessage) -> dict[str, Any]:
    return {
        "id": message.queue_id,
        "node": message.node.name,
        "domain": message.domain.name if message.domain else None,
        "sender": message.sender,
        "recipients": message.recipients,
        "reason": message.reason,
        "arrival": message.arrival.isoformat(),
        "state": message.state,
    }
