"""Links of the audit pages: the current filters with one change, from the newest page."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.apps import apps

register = template.Library()

FILTERS = ("actor", "action", "since", "until")


@register.simple_tag(takes_context=True)
def audit_query(context: template.Context, **changes: object) -> str:
    """The query string of the current filters with `changes` applied. Page cursors (before,
    after) are dropped unless given: a new filter starts from the newest events."""
    params = {k: context["request"].GET.get(k, "") for k in FILTERS}
    params.update({k: "" if v is None else str(v) for k, v in changes.items()})
    return "?" + urlencode({k: v for k, v in params.items() if v})


@register.filter
def object_kind(object_type: str) -> str:
    """What kind of object an event concerns, in words ("mailbox", "domain")."""
    try:
        return str(apps.get_model(object_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return object_type
