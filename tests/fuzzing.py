"""What the fuzz test of every write (tests/test_fuzz_writes.py) is made of: hostile strings,
the forms of a page as a browser would post them, and the database checks after each answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from hypothesis import strategies as st

from tempusmail.validators import validate_multi_line, validate_one_line

# --- hostile strings ----------------------------------------------------------------------------
INJECTIONS = [
    "'; DROP TABLE mailboxes_mailbox;--", "\" OR 1=1 --", "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>", "{{7*7}}", "${7*7}", "{% debug %}", "{first_name}", "%00",
    "%0d%0aBcc: victim@example.org", "../../../etc/passwd", "..\\..\\boot.ini",
    "Ann\r\nBcc: victim@example.org", "Subject\nX-Injected: 1", "=cmd|' /C calc'!A0", "@SUM(1+1)",
    "\u202egnp.exe", "\u200f\u05e9\u05dc\u05d5\u05dd", "مرحبا بالعالم", "Z\u0335\u0321a\u0337l",
    "😀🏳️‍🌈𝔘", "\ufeffBOM", "\x1b[31mred", "a\x00b", "tab\there", "nel\x85line", "del\x7f",
    "\u2028sep", "a@b.test", "nobody@{domain}", " ", "", "0", "-1", "9" * 30, "null", "true",
]  # fmt: skip
_CONTROLS = st.characters(codec="utf-8", categories=["Cc"])
_SAMPLES = st.sampled_from(INJECTIONS)


def hostile_text() -> st.SearchStrategy[str]:
    """Strings a browser can post (UTF-8, so no lone surrogates)."""
    return st.one_of(
        _SAMPLES,
        st.text(st.characters(codec="utf-8"), max_size=30),  # astral, combining, RTL, controls
        st.tuples(st.text(max_size=6), _CONTROLS, st.text(max_size=6)).map("".join),
        st.lists(_SAMPLES, min_size=2, max_size=4).map("".join),
        st.tuples(st.sampled_from(["A", "é", "😀", "\u0301", "x@"]), st.integers(150, 25_000)).map(
            lambda pair: pair[0] * pair[1]  # very long
        ),
    )


def hostile_json() -> st.SearchStrategy[Any]:
    """JSON values: hostile strings (lone surrogates too: only JSON carries them) and types
    that are not the field's."""
    text = st.one_of(hostile_text(), st.sampled_from(["\ud800", "a\udfffb"]))
    return st.one_of(
        text, text, text, st.lists(text, max_size=3), st.integers(-(2**70), 2**70), st.none(),
        st.booleans(), st.floats(allow_nan=False), st.dictionaries(text, text, max_size=2),
    )  # fmt: skip


# --- a page's forms, as a browser posts them ------------------------------------------------------
TEXT_TYPES = {"text", "search", "email", "tel", "url", "number", "date", "datetime-local",
              "time", "hidden", "password"}  # fmt: skip


@dataclass
class Control:
    name: str
    kind: str  # an input type, "textarea", "select", "select-multiple" or "submit"
    value: str = ""
    checked: bool = False
    options: list[tuple[str, bool]] = field(default_factory=list)  # (value, selected)


@dataclass
class Form:
    action: str
    method: str
    controls: list[Control] = field(default_factory=list)

    def names(self) -> set[str]:
        return {c.name for c in self.controls if c.kind != "submit"}

    def passwords(self) -> list[str]:
        return [c.name for c in self.controls if c.kind == "password"]

    def data(self, button: str | None = None) -> dict[str, Any]:
        """What a browser sends when the first submit button with a name (or the one whose
        value is `button`) is pressed: values, checked boxes, selected options."""
        data: dict[str, Any] = {}
        pressed = False
        for c in self.controls:
            if c.kind == "submit":
                if c.name and not pressed and button in (None, c.value):
                    data[c.name], pressed = c.value, True
            elif c.kind in ("checkbox", "radio"):
                if c.checked:
                    data.setdefault(c.name, []).append(c.value or "on")
            elif c.kind == "select":
                chosen = [v for v, s in c.options if s] or [v for v, _ in c.options[:1]]
                data[c.name] = chosen[0] if chosen else ""
            elif c.kind == "select-multiple":
                data[c.name] = [v for v, s in c.options if s]
            elif c.kind != "file":
                data[c.name] = c.value
        return {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in data.items()}


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._select: Control | None = None
        self._textarea: Control | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
            return
        if not self.forms:
            return
        controls = self.forms[-1].controls
        if tag == "option":
            if self._select is not None:
                self._select.options.append((a.get("value", ""), "selected" in a))
            return
        if "disabled" in a:  # a browser sends nothing for it
            return
        if tag == "button":
            if a.get("type", "submit") == "submit":
                controls.append(Control(a.get("name", ""), "submit", a.get("value", "")))
            return
        name = a.get("name")
        if not name:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            kind = "submit" if kind in ("submit", "image") else kind
            controls.append(Control(name, kind, a.get("value", ""), "checked" in a))
        elif tag == "textarea":
            self._textarea = Control(name, "textarea")
            controls.append(self._textarea)
        elif tag == "select":
            self._select = Control(name, "select-multiple" if "multiple" in a else "select")
            controls.append(self._select)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            # A browser drops the newline right after <textarea>.
            text = self._textarea.value + data
            self._textarea.value = text[1:] if text.startswith("\n") else text


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return [form for form in parser.forms if form.method == "post"]


# --- the database, before and after -------------------------------------------------------------
# Stamps a request may move without writing anything anyone asked for.
VOLATILE = {"last_used_at", "last_used_ip", "last_login"}
CHECKED_APPS = ("organizations", "domains", "mailboxes", "webmail_settings", "api",
                "invitations", "jobs", "imports", "auth", "security")  # fmt: skip
# Stored values that are not text people typed (hashes, generated files, node messages).
NOT_TYPED = {"password", "password_hash", "secret_hash", "token_hash", "download", "apply_error",
             "rows", "key", "before", "after"}  # fmt: skip
Rule = Callable[[Any], None]


@cache
def _tables() -> list[tuple[type[models.Model], list[str], list[Rule | None]]]:
    """Each model of the project (not Django's permissions), its columns and the plain-text
    rule of each: one line for a CharField and each string of a JSON list, tabs and line
    breaks in a TextField, none for the rest."""
    tables = []
    for model in apps.get_models():
        if model._meta.app_label not in CHECKED_APPS or model._meta.model_name in (
            "permission", "group"
        ):  # fmt: skip
            continue
        columns, rules = [], []
        for f in model._meta.concrete_fields:
            if f.attname in VOLATILE:
                continue
            columns.append(f.attname)
            if f.name in NOT_TYPED:
                rules.append(None)
            elif isinstance(f, models.TextField):
                rules.append(validate_multi_line)
            elif isinstance(f, models.CharField | models.JSONField):
                rules.append(validate_one_line)
            else:
                rules.append(None)
        tables.append((model, columns, rules))
    return tables


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the project's tables (a small world), minus the volatile stamps."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values_list(*columns))
        for model, columns, _ in _tables()
    }


def differences(before: dict[str, list], after: dict[str, list]) -> list[str]:
    return [label for label in before if before[label] != after[label]]


def dirty_text(before: dict[str, list], after: dict[str, list]) -> list[str]:
    """Text written between the snapshots that breaks the plain-text rule."""
    found = []
    for model, columns, rules in _tables():
        label = model._meta.label
        for row in (r for r in after[label] if r not in before[label]):
            for column, rule, value in zip(columns, rules, row, strict=True):
                for text in value if isinstance(value, list) else [value]:
                    try:
                        if rule is not None:
                            rule(text)
                    except ValidationError:
                        found.append(f"{label}.{column} = {text!r:.80}")
    return found
