from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from domains.dkim_services import (
    DkimRecord,
    dkim_activate,
    dkim_generate,
    dkim_records,
    dkim_rotate,
)
from domains.models import Domain
from domains.services import domain_create, domain_update_settings
from domains.spam_services import domain_set_spam_scores
from domains.validators import normalize_domain_name
from organizations.models import Organization
from provisioning.models import MailNode
from tempusmail.cli import cli_actor, user_errors


class Command(BaseCommand):
    help = "Create, list and update mail domains; manage their DKIM keys."

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
        spam = sub.add_parser("spam", help="Set the inbound spam scores (junk from, reject from).")
        spam.add_argument("name")
        spam.add_argument("--junk", required=True, help="Score from which mail goes to Junk.")
        spam.add_argument("--reject", required=True, help="Score from which mail is refused.")
        dkim = sub.add_parser("dkim", help="Generate, show, rotate and activate DKIM keys.")
        dkim.add_argument("name")
        what = dkim.add_mutually_exclusive_group(required=True)
        what.add_argument("--generate", action="store_true", help="Make the first key.")
        what.add_argument("--show", action="store_true", help="Selectors and TXT records.")
        what.add_argument("--rotate", action="store_true", help="Make the next key to publish.")
        what.add_argument("--activate", metavar="SELECTOR", help="Sign with this key now.")
        dkim.add_argument("--algorithm", default="rsa", help="rsa (default) or ed25519.")
        dkim.add_argument("--json", action="store_true", help="--show as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "update":
            self._update(options)
            return
        if options["action"] == "dkim":
            self._dkim(options)
            return
        if options["action"] == "spam":
            with user_errors():
                domain = Domain.objects.filter(name=normalize_domain_name(options["name"])).first()
                if domain is None:
                    raise CommandError(f"domain: no domain {options['name']}.")
                domain = domain_set_spam_scores(
                    actor=cli_actor(), domain=domain, junk=options["junk"], reject=options["reject"]
                )
            self.stdout.write(
                f"{domain.name}: junk from {domain.spam_junk_score}, "
                f"reject from {domain.spam_reject_score}"
            )
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

    def _dkim(self, options: dict[str, Any]) -> None:
        with user_errors():
            domain = Domain.objects.filter(name=normalize_domain_name(options["name"])).first()
            if domain is None:
                raise CommandError(f"domain: no domain {options['name']}.")
            if options["show"]:
                self._dkim_show(dkim_records(domain), json_output=options["json"])
                return
            if options["json"]:
                raise CommandError("--json goes with --show only.")
            actor = cli_actor()
            if options["generate"]:
                key = dkim_generate(actor=actor, domain=domain, algorithm=options["algorithm"])
            elif options["rotate"]:
                key = dkim_rotate(actor=actor, domain=domain, algorithm=options["algorithm"])
            else:
                key = dkim_activate(actor=actor, domain=domain, selector=options["activate"])
        if key.state == "active":
            self.stdout.write(f"{domain.name}: now signing with {key.selector} ({key.algorithm})")
            return
        record = next(r for r in dkim_records(domain) if r.selector == key.selector)
        self.stdout.write(f"{domain.name}: publish this record, then --activate {key.selector}")
        self.stdout.write(record.zone)

    def _dkim_show(self, records: list[DkimRecord], *, json_output: bool) -> None:
        rows = [
            {
                "selector": r.selector,
                "algorithm": r.algorithm,
                "state": r.state,
                "signing": r.signing,
                "name": r.name,
                "txt": r.value,
                "txt_strings": r.strings,
                "retire_after": r.retire_after.isoformat() if r.retire_after else None,
            }
            for r in records
        ]
        if json_output:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("no DKIM key (mail goes out unsigned)")
        for r in records:
            state = "signing" if r.signing else r.state
            if r.retire_after:
                state = f"replaced, keep published until {r.retire_after:%Y-%m-%d %H:%M} UTC"
            self.stdout.write(f"{r.selector}\t{r.algorithm}\t{state}\n{r.zone}")
