from __future__ import annotations

from django.urls import URLPattern, path

from domains import settings_views

urlpatterns: list[URLPattern] = [
    path(
        "domains/<int:domain_id>/settings/",
        settings_views.domain_settings,
        name="domain_settings",
    ),
]
