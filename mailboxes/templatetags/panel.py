"""Small display helpers for the panel's tables."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.template.defaultfilters import filesizeformat

from mailboxes.tabs import TABS

register = template.Library()


@register.simple_tag
def account_tabs() -> list[tuple[str, str, str]]:
    """The account page's tabs (mailboxes/tabs.py), for whichever app renders the page."""
    return TABS


@register.filter
def size_or_dash(value: int | None) -> str:
    """A size, or an honest dash while the mail node has not reported one."""
    return "—" if value is None else filesizeformat(value)


@register.simple_tag
def percent_of(used: int | None, quota: int | None) -> int | None:
    if used is None or not quota:
        return None
    return min(100, round(used * 100 / quota))


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **changes: object) -> str:
    """The current list's query string with some parameters changed (page reset on change)."""
    params = {k: v for k, v in context["request"].GET.items()}
    if "page" not in changes:
        params.pop("page", None)
    params.update({k: str(v) for k, v in changes.items()})
    return "?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})


@register.simple_tag
def sort_link(current: str, column: str) -> str:
    """The sort value a column header links to: ascending first, then descending."""
    return f"-{column}" if current == column else column
