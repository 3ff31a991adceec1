from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from domains.models import Domain
from domains.services import domain_create
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
        sub.add_parser("list", help="List domains with their provisioning state.")

    def handle(self, *args: Any, **options: Any) -> None:
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
