"""The Celery application: the panel's workers and every mail node's agent run this app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tempusmail.settings")

app = Celery("tempusmail")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
