from __future__ import annotations

from django.urls import URLPattern, path

from provisioning import guard_views as views

urlpatterns: list[URLPattern] = [
    path("guard/", views.staff_guard, name="staff_guard"),
    path("guard/unban/", views.staff_guard_unban, name="staff_guard_unban"),
]
