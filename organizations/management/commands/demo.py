from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from domains.models import Domain
from domains.services import domain_create
from mailboxes.models import Mailbox
from mailboxes.passwords import generate_password
from mailboxes.services import mailbox_create, mailbox_set_password
from organizations.models import Organization, Plan
from organizations.services import organization_create
from tempusmail.cli import cli_actor

ORG = "Demo Hosting"
DOMAIN = "demo.test"
ADMIN = "admin"


class Command(BaseCommand):
    help = (
        "Create (or refresh) a demo organization, domain, mailbox and admin login, and print them."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = cli_actor()
        plan, _ = Plan.objects.get_or_create(
            name="Standard", defaults={"max_accounts": 100, "max_quota_bytes": 10 * 1024**3}
        )
        org = Organization.objects.filter(name=ORG).first() or organization_create(
            actor=actor, name=ORG, plan=plan
        )
        domain = Domain.objects.filter(name=DOMAIN).first() or domain_create(
            actor=actor, name=DOMAIN, organization=org
        )

        admin_password = generate_password()
        User = get_user_model()
        admin = User.objects.filter(username=ADMIN).first()
        if admin is None:
            admin = User.objects.create_superuser(ADMIN, "admin@demo.test", admin_password)
        else:
            admin.set_password(admin_password)
            admin.save(update_fields=["password"])

        mailbox_password = generate_password()
        mailbox = Mailbox.objects.filter(domain=domain, local_part="demo").first()
        if mailbox is None:
            mailbox_create(
                actor=actor,
                domain=domain,
                local_part="demo",
                password=mailbox_password,
                quota_bytes=1024**3,
                first_name="Demo",
                last_name="User",
            )
        else:
            mailbox_set_password(actor=actor, mailbox=mailbox, password=mailbox_password)

        self.stdout.write(
            "\n".join(
                [
                    "Demo data is ready.",
                    f"  organization: {org.name}",
                    f"  domain:       {domain.name}",
                    f"  panel login:  {ADMIN} / {admin_password}",
                    f"  mailbox:      demo@{DOMAIN} / {mailbox_password}"
                    "  (IMAP/POP3/SMTP, and the owner's panel login)",
                ]
            )
        )
