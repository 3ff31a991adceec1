from __future__ import annotations

from django.urls import URLPattern, path

from mailboxes import batch_views as views

urlpatterns: list[URLPattern] = [
    path("domains/<int:domain_id>/accounts/batch/", views.mailbox_batch, name="mailbox_batch"),
]
