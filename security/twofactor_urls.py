from __future__ import annotations

from django.urls import URLPattern, path

from security import twofactor_views as views

urlpatterns: list[URLPattern] = [
    path("two-factor/", views.two_factor_status, name="two_factor"),
    path("two-factor/enrol/", views.two_factor_enrol, name="two_factor_enrol"),
    path("two-factor/backup-codes/", views.two_factor_backup_codes, name="two_factor_backup_codes"),
    path("two-factor/disable/", views.two_factor_disable_view, name="two_factor_disable"),
    path(
        "users/<int:user_id>/two-factor/reset/",
        views.two_factor_reset_member,
        name="two_factor_reset_member",
    ),
    path(
        "accounts/<int:mailbox_id>/two-factor/reset/",
        views.two_factor_reset_owner,
        name="two_factor_reset_owner",
    ),
    path(
        "organizations/<int:organization_id>/two-factor/",
        views.organization_two_factor,
        name="organization_two_factor",
    ),
]
