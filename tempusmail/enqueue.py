"""The one way services start background work: by task name, so a service never imports the
tasks module that imports it back (tasks import services, never the other way round).

`enqueue()` sends now (beat's requests to the nodes, which are not part of a transaction);
`enqueue_on_commit()` sends once the current transaction commits, and never if it rolls back.
Both honour CELERY_TASK_ALWAYS_EAGER (the README's run command has no broker): the registered
task's own apply_async runs it inline when eager.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.db import transaction


def enqueue(
    task: str,
    *args: Any,
    queue: str | None = None,
    expires: float | None = None,
    **kwargs: Any,
) -> None:
    """Send the task named `task` (e.g. "provisioning.tasks.provision_domain") now."""
    if task not in current_app.tasks:
        # Outside a worker nothing imports the apps' tasks modules until asked to.
        current_app.loader.import_default_modules()
    options: dict[str, Any] = {}
    if queue is not None:
        options["queue"] = queue
    if expires is not None:
        options["expires"] = expires
    current_app.tasks[task].apply_async(
        # celery-types wants a tuple; Celery takes any sequence, and a list is what a worker
        # receives anyway (JSON), so the eager path sees the same.
        args=list(args),  # type: ignore[arg-type]
        kwargs=kwargs,
        **options,
    )


def enqueue_on_commit(
    task: str,
    *args: Any,
    queue: str | None = None,
    robust: bool = False,
    **kwargs: Any,
) -> None:
    """Send the task once the current transaction commits (at once outside a transaction).

    `robust=True`: a broker outage after the commit is logged, not raised, for sends that
    something else repeats anyway (beat's reconcile re-sends every lagging domain)."""
    transaction.on_commit(lambda: enqueue(task, *args, queue=queue, **kwargs), robust=robust)
