from __future__ import annotations

from django.urls import URLPattern, path

from mailboxes import wizard_views

PREFIX = "domains/<int:domain_id>/accounts/new/"

urlpatterns: list[URLPattern] = [
    path(PREFIX, wizard_views.wizard_start, name="mailbox_wizard_start"),
    path(
        f"{PREFIX}<uuid:token>/summary/",
        wizard_views.wizard_summary,
        name="mailbox_wizard_summary",
    ),
    path(
        f"{PREFIX}<uuid:token>/confirm/",
        wizard_views.wizard_confirm,
        name="mailbox_wizard_confirm",
    ),
    path(
        f"{PREFIX}<uuid:token>/cancel/",
        wizard_views.wizard_cancel,
        name="mailbox_wizard_cancel",
    ),
    path(
        f"{PREFIX}<uuid:token>/<slug:step>/",
        wizard_views.wizard_step,
        name="mailbox_wizard_step",
    ),
]
