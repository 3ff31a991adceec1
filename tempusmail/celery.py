"""The Celery application: the panel's workers and every mail node's agent run this app."""

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tempusmail.settings")

app = Celery("tempusmail")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_worker_logs(logger, **kwargs):
    # A worker replaces Django's logging with its own handlers: they get the same filter.
    from tempusmail.log_redaction import RedactSecrets

    for handler in logger.handlers:
        handler.addFilter(RedactSecrets())
