from __future__ import annotations

from django.urls import URLPattern, path

from provisioning import queue_views as views

# Queue ids are Postfix's ([0-9A-Za-z]); the actions are "retry" and "delete".
urlpatterns: list[URLPattern] = [
    path("domains/<int:domain_id>/queue/", views.domain_queue, name="domain_queue"),
    path(
        "domains/<int:domain_id>/queue/refresh/",
        views.domain_queue_refresh,
        name="domain_queue_refresh",
    ),
    path(
        "domains/<int:domain_id>/queue/<slug:queue_id>/<slug:action>/",
        views.domain_queue_action,
        name="domain_queue_action",
    ),
    path("queue/", views.staff_queue, name="staff_queue"),
    path("queue/refresh/", views.staff_queue_refresh, name="staff_queue_refresh"),
    path(
        "queue/<slug:node_name>/<slug:queue_id>/<slug:action>/",
        views.staff_queue_action,
        name="staff_queue_action",
    ),
]
