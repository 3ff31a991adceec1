"""An audit event's before/after values as rows a person reads: label, old value, new value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.template.defaultfilters import filesizeformat

from security.audit import HIDDEN, scrub
from security.models import AuditEvent

MAX_VALUE_CHARS = 200
_ABSENT = object()


@dataclass(frozen=True)
class ChangeRow:
    label: str
    before: str | None  # None: the field had no value before (a creation)
    after: str | None  # None: the field has none after (a deletion)


def change_rows(event: AuditEvent) -> list[ChangeRow]:
    # Scrubbed again on the way out: rows written before a secret's name was known stay hidden.
    changes = scrub(event.changes or {})
    before = changes.get("before") or {}
    after = changes.get("after") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    fields = [*before, *(f for f in after if f not in before)]
    return [
        ChangeRow(
            label=_label(event.object_type, field),
            before=_text(field, before.get(field, _ABSENT)),
            after=_text(field, after.get(field, _ABSENT)),
        )
        for field in fields
    ]


def _label(object_type: str, field: str) -> str:
    """The model field's own name for people ("Deliver spam to the inbox"), else the key."""
    try:
        verbose = apps.get_model(object_type)._meta.get_field(field).verbose_name
    except (LookupError, ValueError, FieldDoesNotExist):
        verbose = field.replace("_", " ")
    return str(verbose)[:1].upper() + str(verbose)[1:]


def _text(field: str, value: Any) -> str | None:
    if value is _ABSENT:
        return None
    if value == HIDDEN:
        return "(hidden)"
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and field.endswith("_bytes"):
        return "unlimited" if value == 0 and field == "quota_bytes" else filesizeformat(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    text = str(value)
    if text == "":
        return "(empty)"
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"
