"""`manage.py apikey create|list|revoke`: organization API keys from the command line.

The new key is printed once (stdout, nothing else on that line); bad input is one line on
stderr, exit 1, and nothing is created.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.models import ApiKey
from api.services import api_key_create, api_key_revoke, end_of_day
from domains.models import Domain
from domains.validators import normalize_domain_name
from organizations.models import Organization
from tempusmail.cli import cli_actor, user_errors


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"expires: “{text}” is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = "Create, list and revoke API keys."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create an organization key; prints it once.")
        create.add_argument("--organization", required=True, help="Organization name.")
        create.add_argument("--name", default="", help="What uses the key (default: cli).")
        create.add_argument(
            "--domain", action="append", default=[], help="Limit to this domain (repeatable)."
        )
        create.add_argument("--read-only", action="store_true")
        create.add_argument("--expires", help="Last day the key works (YYYY-MM-DD, UTC).")
        create.add_argument(
            "--allow-net", action="append", default=[], help="Allowed network (repeatable)."
        )
        listing = sub.add_parser("list", help="List keys (never their secrets).")
        listing.add_argument("--organization", help="Only this organization's keys.")
        revoke = sub.add_parser("revoke", help="Revoke a key by its id.")
        revoke.add_argument("id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _organization(self, name: str) -> Organization:
        organization = Organization.objects.filter(name=name).first()
        if organization is None:
            raise CommandError(f"organization: no organization named “{name}”.")
        return organization

    def _create(self, options: dict[str, Any]) -> None:
        organization = self._organization(options["organization"])
        expires = _date(options["expires"]) if options["expires"] else None
        with user_errors():
            domains = []
            for name in options["domain"]:
                domain = Domain.objects.filter(name=normalize_domain_name(name)).first()
                if domain is None:
                    raise CommandError(f"domain: no domain {name}.")
                domains.append(domain)
            new = api_key_create(
                actor=cli_actor(),
                organization=organization,
                name=options["name"] or "cli",
                domains=domains,
                read_only=options["read_only"],
                expires_at=end_of_day(expires) if expires else None,
                allowed_networks=options["allow_net"],
            )
        self.stderr.write(f"created API key {new.key.pk} for {organization.name}; shown once:")
        self.stdout.write(new.text)

    def _list(self, options: dict[str, Any]) -> None:
        keys = ApiKey.objects.select_related("organization", "mailbox").prefetch_related("domains")
        if options["organization"]:
            keys = keys.filter(organization=self._organization(options["organization"]))
        for key in keys.order_by("id"):
            scope = (
                f"personal:{key.mailbox.address}"
                if key.mailbox
                else ",".join(d.name for d in key.domains.all()) or "organization"
            )
            state = "revoked" if key.is_revoked else "expired" if key.is_expired else "active"
            used = (
                f"{key.last_used_at:%Y-%m-%d %H:%M} from {key.last_used_ip}"
                if key.last_used_at
                else "never used"
            )
            access = "read-only" if key.read_only else "read-write"
            self.stdout.write(
                f"{key.pk}\ttm_{key.prefix}_…\t{key.name}\t{key.organization.name}\t{scope}"
                f"\t{access}\t{state}\t{used}"
            )

    def _revoke(self, options: dict[str, Any]) -> None:
        key = ApiKey.objects.filter(pk=options["id"]).first()
        if key is None:
            raise CommandError(f"id: no API key {options['id']}.")
        with user_errors():
            api_key_revoke(actor=cli_actor(), key=key)
        self.stdout.write(f"revoked API key {key.pk} ({key.name})")
