"""Plain text: which characters a value people type may hold. One rule, applied by every
model's full_clean() (the PlainTextModel mixin), by mailboxes.rules (so forms, the API and CSV
imports of accounts refuse the same values with the same words) and by the few form fields
whose value reaches a service only later (the wizard's steps).

One-line values (every CharField: names, titles, subjects, display names, key names...) refuse
every control character: C0 (NUL, TAB, CR, LF...), DEL, C1 (NEL...) and the Unicode line and
paragraph separators. In a name they would split a mail header (CRLF injection into Subject or
From), a vCard or CSV line, or hide text. Multi-line values (every TextField: signatures, the
autoresponder's message, a postal address) keep TAB, LF and CR and refuse the rest. A lone
surrogate (only a JSON body can carry one) is never text: PostgreSQL and UTF-8 refuse it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

_ONE_LINE_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_MULTI_LINE_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMES = {"\n": "a line break", "\r": "a line break", "\u2028": "a line break",
          "\u2029": "a paragraph break", "\x85": "a line break", "\t": "a tab",
          "\x00": "a null character"}  # fmt: skip


def _describe(char: str) -> str:
    if char in _NAMES:
        return _NAMES[char]
    if "\ud800" <= char <= "\udfff":
        return f"an invalid character (U+{ord(char):04X})"
    return f"a control character (U+{ord(char):04X})"


def validate_one_line(value: Any) -> None:
    if isinstance(value, str) and (found := _ONE_LINE_REFUSED.search(value)):
        raise ValidationError(
            f"Remove {_describe(found.group())}: this field takes one line of plain text.",
            code="control_character",
        )


def validate_multi_line(value: Any) -> None:
    if isinstance(value, str) and (found := _MULTI_LINE_REFUSED.search(value)):
        raise ValidationError(
            f"Remove {_describe(found.group())}: only text, tabs and line breaks are allowed.",
            code="control_character",
        )


def is_multi_line(field: models.Field) -> bool:
    return isinstance(field, models.TextField)


def plain_text_errors(model: type[models.Model], values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Errors of the values (by field name) that are text fields of model: a CharField takes one
    line, a TextField several. Other names (and non-text fields) are left alone."""
    errors: dict[str, list[str]] = {}
    text_fields = {f.name: f for f in model._meta.concrete_fields if _is_text(f)}
    for name, value in values.items():
        field = text_fields.get(name)
        if field is None:
            continue
        try:
            (validate_multi_line if is_multi_line(field) else validate_one_line)(value)
        except ValidationError as exc:
            errors[name] = exc.messages
    return errors


def _is_text(field: models.Field) -> bool:
    return isinstance(field, models.CharField | models.TextField)


class PlainTextModel:
    """A model mixin (before models.Model in the bases): full_clean() applies the plain-text
    rule to every text field, so each service's full_clean() and every ModelForm refuse control
    characters at their field. A plain class, not a model: adding it needs no migration.
    """

    _meta: Any

    def clean_fields(self, exclude: Any = None) -> None:
        errors: dict[str, Any] = {}
        try:
            super().clean_fields(exclude=exclude)  # type: ignore[misc]
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        skip = set(exclude or ()) | set(errors)
        values = {
            f.name: getattr(self, f.attname)
            for f in self._meta.concrete_fields
            if _is_text(f) and f.name not in skip
        }
        errors.update(plain_text_errors(self._meta.model, values))
        if errors:
            raise ValidationError(errors)
