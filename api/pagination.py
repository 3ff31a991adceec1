"""Keyset ("cursor") pagination for API lists: a stable order, no OFFSET, no COUNT.

    page = keyset_page(request, queryset, order=("name",))
    return JsonResponse(page.body([serialize(d) for d in page.items]))

``order`` are ascending fields whose last one is unique (append "id" when needed); their values
must be JSON values (strings, numbers). ``?limit=`` (1..MAX_LIMIT, default DEFAULT_LIMIT) and
``?cursor=`` (the previous page's ``next_cursor``, opaque to clients). A bad cursor or limit
is a ValidationError keyed by that parameter (the decorator answers 400 with it).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None

    def body(self, data: list[Any]) -> dict[str, Any]:
        return {"data": data, "next_cursor": self.next_cursor}


def _encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str, size: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise ValidationError({"cursor": ["This is not a cursor this list gave out."]})
    return values


def _limit(request: HttpRequest) -> int:
    raw = request.GET.get("limit", "")
    if raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationError({"limit": [f"A whole number from 1 to {MAX_LIMIT}."]})
    return int(raw)


def _after(order: Sequence[str], values: list[Any]) -> Q:
    """Rows strictly after `values` in the order: (a > x) | (a = x & b > y) | ..."""
    condition = Q()
    for i, field in enumerate(order):
        step = Q(**{f"{field}__gt": values[i]})
        for prior, value in zip(order[:i], values[:i], strict=True):
            step &= Q(**{prior: value})
        condition |= step
    return condition


def keyset_page(request: HttpRequest, queryset: QuerySet, *, order: Sequence[str]) -> Page:
    limit = _limit(request)
    queryset = queryset.order_by(*order)
    cursor = request.GET.get("cursor", "")
    if cursor:
        queryset = queryset.filter(_after(order, _decode(cursor, len(order))))
    rows = list(queryset[: limit + 1])
    items, more = rows[:limit], len(rows) > limit
    last = items[-1] if items else None
    next_cursor = _encode([getattr(last, f) for f in order]) if more and last else None
    return Page(items=items, next_cursor=next_cursor)
