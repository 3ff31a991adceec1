"""How long a corporate signature template takes to reach every account of a domain.

Seeds a scratch SQLite database with one domain of N accounts (bulk inserts; half of them with
contact details, a tenth with an identity of their own already) and times, through the
services (one transaction each, as the pages call them): creating a template for every
account (identities made where missing, a signature and an audit row per account), changing
it (every signature re-rendered), one account's contact details, and deleting it.

    .venv/bin/python benchmarks/corporate_signatures.py [--accounts 1000] [--repeat 5]

Prints the median of --repeat runs of each step; it asserts nothing (the decision it informs:
rendering stays synchronous, see webmail_settings/corporate_services.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

HTML = (
    '<table><tr><td><img src="https://example.com/logo.png" alt="Example"></td><td>'
    "<b>{first_name} {last_name}</b><br>{title} · {department}<br>{phone}<br>{address}<br>"
    '<a href="mailto:{email}">{email}</a> · <a href="https://example.com">example.com</a>'
    "</td></tr></table>"
)


def seed(accounts: int):
    from domains.models import Domain
    from mailboxes.models import Mailbox
    from organizations.models import Organization
    from provisioning.services import default_node
    from webmail_settings.models import ContactDetails, Identity

    organization = Organization.objects.create(name="Big")
    domain = Domain.objects.create(name="big.test", organization=organization, node=default_node())
    boxes = Mailbox.objects.bulk_create(
        Mailbox(domain=domain, local_part=f"user{i}", first_name=f"First{i}",
                last_name=f"Last <{i}>", password_hash="x")
        for i in range(accounts)
    )  # fmt: skip
    ContactDetails.objects.bulk_create(
        ContactDetails(mailbox=m, title="Engineer", department="R&D", phone="+1 555 0100",
                       address="1 Main St\nSpringfield")
        for m in boxes[::2]
    )  # fmt: skip
    Identity.objects.bulk_create(
        Identity(mailbox=m, display_name="Own", address=f"{m.local_part}@big.test")
        for m in boxes[::10]
    )
    return domain, boxes


def run(args: argparse.Namespace, folder: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tempusmail.settings")
    os.environ.update(
        DATABASE_URL=f"sqlite:///{folder / 'bench.sqlite3'}",
        MAILNODE_DIR=str(folder / "node"),
        DEBUG="false",
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from security.audit import Actor
    from webmail_settings import corporate_services as services

    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    call_command("migrate", verbosity=0)
    domain, boxes = seed(args.accounts)
    actor = Actor(user=None, label="benchmark", ip_address=None)
    timings: dict[str, list[float]] = {"create": [], "update": [], "contact": [], "delete": []}

    for run_number in range(args.repeat):
        started = time.perf_counter()
        template = services.signature_template_create(
            actor=actor, domain=domain, name=f"Corporate {run_number}", html=HTML
        )
        timings["create"].append(time.perf_counter() - started)
        started = time.perf_counter()
        services.signature_template_update(
            actor=actor, template=template, name=template.name, html=HTML.replace("{phone}", "")
        )
        timings["update"].append(time.perf_counter() - started)
        started = time.perf_counter()
        services.contact_details_update(
            actor=actor, mailbox=boxes[1], changes={"title": f"Lead {run_number}"}
        )
        timings["contact"].append(time.perf_counter() - started)
        started = time.perf_counter()
        services.signature_template_delete(actor=actor, template=template)
        timings["delete"].append(time.perf_counter() - started)
    print(f"{args.accounts:,} accounts, SQLite, median of {args.repeat} runs")
    labels = {
        "create": "create (every account gets it)",
        "update": "change (every account re-rendered)",
        "contact": "one account's contact details",
        "delete": "delete (every copy removed)",
    }
    for step, label in labels.items():
        print(f"{label:<40} {statistics.median(timings[step]) * 1000:>8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tempusmail-bench-corporate-"))
    try:
        run(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
