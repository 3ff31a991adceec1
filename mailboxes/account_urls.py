from __future__ import annotations

from django.urls import URLPattern, path

from mailboxes import account_views as views

urlpatterns: list[URLPattern] = [
    path("accounts/<int:mailbox_id>/", views.mailbox_detail, name="mailbox_detail"),
    path(
        "accounts/<int:mailbox_id>/forwarding/",
        views.mailbox_forwarding,
        name="mailbox_forwarding",
    ),
    path("accounts/<int:mailbox_id>/security/", views.mailbox_security, name="mailbox_security"),
    path(
        "accounts/<int:mailbox_id>/autoresponder/",
        views.mailbox_autoresponder,
        name="mailbox_autoresponder",
    ),
    path("accounts/<int:mailbox_id>/webmail/", views.mailbox_webmail, name="mailbox_webmail"),
    path(
        "accounts/<int:mailbox_id>/deactivate/",
        views.mailbox_deactivate_view,
        name="mailbox_deactivate",
    ),
    path(
        "accounts/<int:mailbox_id>/reactivate/",
        views.mailbox_reactivate_view,
        name="mailbox_reactivate",
    ),
    path("accounts/<int:mailbox_id>/delete/", views.mailbox_delete_view, name="mailbox_delete"),
    path("accounts/<int:mailbox_id>/status/", views.mailbox_status, name="mailbox_status"),
]
