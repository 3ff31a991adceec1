from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from domains.models import Domain
from provisioning import usage
from provisioning.models import MailNode
from provisioning.tasks import reconcile


class Command(BaseCommand):
    help = "Watch or nudge the provisioning loop."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        wait = sub.add_parser("wait", help="Exit 0 once every change is acknowledged by its node.")
        wait.add_argument("--timeout", type=float, default=60.0, help="Seconds (default 60).")
        sub.add_parser("status", help="Show each lagging domain and its last error.")
        sub.add_parser("reconcile", help="Re-send whatever lags behind now (beat does this too).")
        report = sub.add_parser(
            "usage", help="Ask every mail node for its accounts' usage now (beat does this too)."
        )
        report.add_argument(
            "--wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="Wait up to SECONDS until every node holding accounts has reported.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "reconcile":
            self.stdout.write(f"re-sent {reconcile()} domain(s)")
        elif action == "status":
            self._status()
        elif action == "usage":
            self._usage(options["wait"])
        else:
            self._wait(options["timeout"])

    def _lagging(self) -> list[Domain]:
        return list(Domain.objects.lagging().select_related("node"))

    def _describe(self, domain: Domain) -> str:
        error = f": {domain.apply_error}" if domain.apply_error else ""
        return (
            f"{domain.name} on node {domain.node.name} at v{domain.applied_version}, "
            f"wants v{domain.desired_version}{error}"
        )

    def _status(self) -> None:
        lagging = self._lagging()
        for domain in lagging:
            self.stdout.write(self._describe(domain))
        if not lagging:
            self.stdout.write("every domain is applied")

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            lagging = self._lagging()
            if not lagging:
                self.stdout.write("every change is applied")
                return
            if time.monotonic() >= deadline:
                raise CommandError(
                    f"timed out after {timeout:g}s; not yet applied: "
                    + "; ".join(self._describe(d) for d in lagging)
                )
            time.sleep(0.05)

    def _usage(self, wait: float) -> None:
        since = timezone.now()
        nodes = list(MailNode.objects.all())
        for node in nodes:
            usage.request_usage_report(node)
        self.stdout.write(f"asked {len(nodes)} node(s) for a usage report")
        if wait <= 0:
            return
        deadline = time.monotonic() + wait
        while pending := usage.nodes_awaiting_report(nodes, since):
            if time.monotonic() >= deadline:
                names = ", ".join(node.name for node in pending)
                raise CommandError(f"timed out after {wait:g}s; no usage report yet from {names}")
            time.sleep(0.1)
        self.stdout.write("usage is up to date")
