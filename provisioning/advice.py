"""What the Provisioning tab tells a person about the mail node: why a change is not applied,
what to do about it, and whether anything will retry on its own (issue 21: in `make run`
nothing does, so the tab must not promise it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from domains.models import Domain
from provisioning.services import local_mode, retry_delay

START_SERVERS = "python manage.py mailstack start"


@dataclass(frozen=True)
class Action:
    """What to do: a sentence, the command it names (shown as code) and a note after it."""

    text: str
    command: str = ""
    note: str = ""


@dataclass(frozen=True)
class NodeAdvice:
    local: bool  # `make run`: this machine is the mail node, tasks run in the panel's process
    servers_running: bool | None  # the local mail servers (None: the node is elsewhere)
    action: Action | None  # what to do about the last error (None when there is none)
    retry_in_seconds: int | None  # when the next automatic try is due (None: none will come)


def node_advice(domain: Domain) -> NodeAdvice:
    local = local_mode()
    running = _local_servers_running() if local else None
    action = _action(domain.apply_error, local=local) if domain.apply_error else None
    retry = None
    if domain.apply_error and not local:
        retry = round(retry_delay(domain.apply_failures))
    return NodeAdvice(local=local, servers_running=running, action=action, retry_in_seconds=retry)


def _local_servers_running() -> bool:
    from provisioning.mailstack.controller import MailStack

    return bool(MailStack(Path(settings.MAILNODE_DIR)).status()["running"])


def _action(error: str, *, local: bool) -> Action:
    then_start = "then start the mail servers:" if local else ""
    if "postmap not found" in error or "not found: install" in error:
        return Action(
            "Install Postfix and Dovecot on this mail node (as root: bash "
            f"scripts/setup-system.sh){', ' + then_start if local else '.'}",
            START_SERVERS if local else "",
        )
    if "Permission denied" in error or "Operation not permitted" in error:
        return Action(
            f"The node cannot write its folder {settings.MAILNODE_DIR}: run it as the user who "
            f"owns that folder (or as root){', ' + then_start if local else '.'}",
            START_SERVERS if local else "",
        )
    if local:
        return Action(
            "Start the mail servers:",
            START_SERVERS,
            "It applies every waiting change: under make run nothing retries by itself "
            "(no worker, no beat).",
        )
    return Action("The mail node's worker log says why; the change is sent again automatically.")
