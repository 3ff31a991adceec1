from __future__ import annotations

from django.urls import URLPattern, path

from domains import dkim_views, settings_views

urlpatterns: list[URLPattern] = [
    path(
        "domains/<int:domain_id>/settings/",
        settings_views.domain_settings,
        name="domain_settings",
    ),
    path("domains/<int:domain_id>/dkim/", dkim_views.domain_dkim, name="domain_dkim"),
]
