"""`manage.py mailbox import FILE --domain NAME [--dry-run] [--all-or-nothing]
[--passwords-out FILE]`: the page's checks and import, for ops scripts.

Runs in the command's own process (no job, no worker): it prints one line per rejected row,
creates what the mode allows, writes the generated passwords to --passwords-out (0600), and
exits non-zero when any row was rejected.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from domains.models import Domain
from domains.validators import normalize_domain_name
from imports.checks import check_lines
from imports.models import ImportMode
from imports.parsing import FileRejected, read_lines
from imports.services import import_rows, passwords_csv
from tempusmail.cli import cli_actor

Write = Callable[[str], None]  # the command's stdout.write


def add_import_arguments(parser: CommandParser) -> None:
    parser.add_argument("file", type=Path)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--dry-run", action="store_true", help="Check only; create nothing.")
    parser.add_argument(
        "--all-or-nothing", action="store_true", help="Create nothing if any row fails."
    )
    parser.add_argument(
        "--passwords-out", type=Path, help="Where the generated passwords go (CSV, mode 0600)."
    )


def run_import(options: dict[str, Any], write) -> None:
    name = normalize_domain_name(options["domain"])
    domain = Domain.objects.select_related("organization__plan").filter(name=name).first()
    if domain is None:
        raise CommandError(f"domain: no domain {name}.")
    try:
        data = options["file"].read_bytes()
    except OSError as exc:
        raise CommandError(f"file: {exc.strerror}: {options['file']}") from exc
    actor = cli_actor()
    try:
        rows, problems = check_lines(actor=actor, domain=domain, lines=read_lines(data))
    except FileRejected as exc:
        rows, problems = [], [exc.problem]
    for problem in problems:
        write(f"rejected: {problem.text}")
    all_or_nothing = options["all_or_nothing"]
    if options["dry_run"] or not rows or (all_or_nothing and problems):
        write(f"{len(rows)} row(s) valid, {len(problems)} rejected; nothing was created.")
        _exit_if(problems)
        return
    mode = ImportMode.ALL_OR_NOTHING if all_or_nothing else ImportMode.VALID_LINES
    created, errors, generated = import_rows(
        actor=actor, domain=domain, rows=rows, mode=mode, progress=lambda done, failed: None
    )
    for error in errors:
        write(f"rejected: {error['item']}: {error['message']}")
    if generated:
        _write_passwords(options.get("passwords_out"), passwords_csv(generated), write)
    write(f"{created} account(s) created in {domain.name}.")
    _exit_if(problems or errors)


def _write_passwords(path: Path | None, text: str, write) -> None:
    if path is None:
        write("generated passwords (keep them safe; use --passwords-out to write a file):")
        write(text.rstrip("\r\n").replace("\r\n", "\n"))
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.write(text)
    write(f"generated passwords written to {path}")


def _exit_if(problems: list[Any]) -> None:
    if problems:
        raise CommandError(f"{len(problems)} row(s) rejected.", returncode=1)
