from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from domains.models import Domain
from domains.services import domain_create, domain_update_settings
from domains.validators import normalize_domain_name
from organizations.models import Organization
from provisioning.models import MailNode
from tempusmail.cli import cli_actor, user_errors


class Command(BaseCommand):
    help = "Create and list mail domains."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Activate a domain for an organization.")
        create.add_argument("name")
        create.add_argument("--organization", required=True, help="Organization name.")
        create.add_argument("--node", help="Mail node name (default: the default node).")
        update = sub.add_parser("update", help="Change a domain's settings.")
        update.add_argument("name")
        update.add_argument(
            "--catch-all", help="Address of this domain receiving unknown addresses; empty: none."
        )
        sub.add_parser("list", help="List domains with their provisioning state.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "update":
            self._update(options)
            return
        if options["action"] == "list":
            for d in Domain.objects.select_related("organization", "node"):
                state = (
                    "in sync"
                    if d.is_in_sync
                    else f"updating (v{d.applied_version}/{d.desired_version})"
                )
                self.stdout.write(f"{d.name}\t{d.organization.name}\t{d.node.name}\t{state}")
            return
        org = Organization.objects.filter(name=options["organization"]).first()
        if org is None:
            raise CommandError(f"organization: no organization named “{options['organization']}”.")
        node = None
        if options["node"]:
            node = MailNode.objects.filter(name=options["node"]).first()
            if node is None:
                raise CommandError(f"node: no mail node named “{options['node']}”.")
        with user_errors():
            domain = domain_create(
                actor=cli_actor(), name=options["name"], organization=org, node=node
            )
        self.stdout.write(f"created domain {domain.name} on node {domain.node.name}")

    def _update(self, options: dict[str, Any]) -> None:
        with user_errors():
            domain = (
                Domain.objects.select_related("organization__plan")
                .filter(name=normalize_domain_name(options["name"]))
                .first()
            )
            if domain is None:
                raise CommandError(f"domain: no domain {options['name']}.")
            if options["catch_all"] is None:
                raise CommandError("nothing to change: give --catch-all ADDRESS (or '').")
            domain_update_settings(
                actor=cli_actor(), domain=domain, changes={"catchall_target": options["catch_all"]}
            )
        target = options["catch_all"] or "none"
        self.stdout.write(f"updated {domain.name}: catch-all {target}")
