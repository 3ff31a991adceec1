from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from organizations.models import Organization, Plan
from organizations.services import organization_create
from tempusmail.cli import cli_actor, user_errors


class Command(BaseCommand):
    help = "Create and list organizations (tenants)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create an organization.")
        create.add_argument("name")
        create.add_argument("--plan", help="Name of an existing plan.")
        sub.add_parser("list", help="List organizations.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for org in Organization.objects.order_by("name"):
                self.stdout.write(org.name)
            return
        plan = None
        if options["plan"]:
            plan = Plan.objects.filter(name=options["plan"]).first()
            if plan is None:
                raise CommandError(f"plan: no plan named “{options['plan']}”.")
        with user_errors():
            org = organization_create(actor=cli_actor(), name=options["name"], plan=plan)
        self.stdout.write(f"created organization {org.name}")
