from __future__ import annotations

from django.urls import URLPattern, path

from security import audit_views as views

urlpatterns: list[URLPattern] = [
    path("audit/", views.all_audit, name="audit_all"),
    path(
        "organizations/<int:organization_id>/audit/",
        views.organization_audit,
        name="organization_audit",
    ),
    path("domains/<int:domain_id>/audit/", views.domain_audit, name="domain_audit"),
    path("accounts/<int:mailbox_id>/audit/", views.mailbox_audit, name="mailbox_audit"),
]
