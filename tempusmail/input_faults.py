"""Values that nothing behind the panel can hold, found in the raw parts of a request.

PostgreSQL refuses NUL in text (the query fails: a 500), Python's UTF-8 encoder refuses lone
surrogates (a JSON "\\ud800" reaches psycopg as one), and bytes that are not UTF-8 are silently
turned into U+FFFD by Django's parsers, so what was sent is not what would be stored. Where a
value can only be one line (the path, query parameters, headers) a control character has no
legitimate use either, and the mail servers' files are line-based. Form and JSON bodies may
hold newlines and tabs (signatures, autoresponder texts): controls there are the forms' and
the rules' to judge, field by field.

The checks read the raw bytes (QUERY_STRING, the body; the path as Django re-escapes it), never
Django's decoded QueryDicts, because decoding is exactly what hides invalid UTF-8.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

# Headers the panel (or Django for it) reads: their bytes must also be UTF-8. Every header is
# checked for control characters, which RFC 9110 forbids in field values (tab aside).
READ_HEADERS = ("HTTP_HOST", "HTTP_COOKIE", "HTTP_AUTHORIZATION", "HTTP_X_FORWARDED_FOR",
                "HTTP_X_REQUEST_ID", "HTTP_REFERER", "HTTP_ORIGIN")  # fmt: skip
READ_HEADER_PREFIXES = ("HTTP_HX_",)  # htmx's request headers (django-htmx)


@dataclass(frozen=True)
class Fault:
    place: str  # "path", "query", "form", "json", "header"
    name: str  # the parameter, field or header as the client named it
    problem: str  # what is wrong, as words: "a NUL character (0x00)"

    @property
    def message(self) -> str:
        place = _PLACES[self.place]
        return f"{place} “{self.name}” contains {self.problem}, which cannot be stored."


_PLACES = {
    "path": "The address (URL)",
    "query": "The parameter",
    "form": "The field",
    "json": "The field",
    "header": "The header",
}


def _text_problem(text: str, *, one_line: bool) -> str | None:
    """What makes decoded text unstorable (None: nothing)."""
    for char in text:
        code = ord(char)
        if code == 0:
            return "a NUL character (0x00)"
        if 0xD800 <= code <= 0xDFFF:
            return f"a lone surrogate (U+{code:04X})"
        if one_line and (code < 0x20 or code == 0x7F):
            return f"a control character (0x{code:02X})"
    return None


def _bytes_problem(raw: bytes, *, one_line: bool) -> str | None:
    try:
        text = raw.decode("utf-8")  # strict: also refuses encoded surrogates (ED A0 80)
    except UnicodeDecodeError:
        return "bytes that are not valid UTF-8"
    return _text_problem(text, one_line=one_line)


def _latin1_bytes(value: str) -> bytes:
    # WSGI passes the raw bytes of PATH_INFO, QUERY_STRING and headers as latin-1 strings.
    return value.encode("latin-1", errors="replace")


def _pairs_faults(raw: bytes, place: str, *, one_line: bool) -> Iterator[Fault]:
    """Faults in application/x-www-form-urlencoded text (a query string or a form body)."""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    for name, value in pairs:
        name_bytes, value_bytes = _latin1_bytes(name), _latin1_bytes(value)
        shown = name_bytes.decode("utf-8", errors="replace")
        problem = _bytes_problem(name_bytes, one_line=True)
        if problem is None:
            problem = _bytes_problem(value_bytes, one_line=one_line)
        if problem is not None:
            yield Fault(place, _printable(shown), problem)


def _printable(name: str) -> str:
    """A name fit to show in a message (a hostile name is itself part of the fault)."""
    cleaned = "".join(c if c.isprintable() else "?" for c in name)
    return cleaned[:60] + ("…" if len(cleaned) > 60 else "")


def _json_faults(value: object, path: str) -> Iterator[Fault]:
    if isinstance(value, str):
        problem = _text_problem(value, one_line=False)
        if problem is not None:
            yield Fault("json", path or "(body)", problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            problem = _text_problem(str(key), one_line=True)
            if problem is not None:
                yield Fault("json", _printable(child), problem)
            else:
                yield from _json_faults(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_faults(item, f"{path}[{index}]")


def _body_faults(request: HttpRequest) -> Iterator[Fault]:
    content_type = request.content_type or ""
    if content_type == "multipart/form-data":
        # Django's parser decodes the text parts (invalid UTF-8 becomes U+FFFD, which is at
        # least storable), but a NUL survives it. It drops unprintable characters from file
        # names itself; a file's content is its reader's (imports/parsing.py).
        try:
            fields = list(request.POST.lists())
        except MultiPartParserError:
            return  # Django answers a broken multipart body 400 itself, later
        for name, values in fields:
            problems = [_text_problem(name, one_line=True)]
            problems += [_text_problem(value, one_line=False) for value in values]
            problem = next((found for found in problems if found is not None), None)
            if problem is not None:
                yield Fault("form", _printable(name), problem)
        return
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    body = request.body
    if not body:
        return
    if content_type == "application/x-www-form-urlencoded":
        yield from _pairs_faults(body, "form", one_line=False)
    elif content_type == "application/json" or request.path.startswith("/api/"):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            yield Fault("json", "(body)", "bytes that are not valid UTF-8")
            return
        try:
            parsed = json.loads(text)
        except ValueError:
            return  # not JSON at all: the endpoint says so in its own words
        yield from _json_faults(parsed, "")


def _header_faults(request: HttpRequest) -> Iterator[Fault]:
    for key, value in request.META.items():
        if not key.startswith("HTTP_") or not isinstance(value, str):
            continue
        value = value.replace("\t", " ")  # the one control character a header may hold
        if key in READ_HEADERS or key.startswith(READ_HEADER_PREFIXES):
            problem = _bytes_problem(_latin1_bytes(value), one_line=True)
        else:  # read by nobody: any bytes but controls (old clients send latin-1)
            problem = _text_problem(value, one_line=True)
        if problem is not None:
            yield Fault("header", key[5:].replace("_", "-").title(), problem)


# Django decodes PATH_INFO before anyone sees it (META's copy included), re-escaping bytes that
# are not UTF-8 as %XX (repercent_broken_unicode). No path of ours holds a literal "%", so an
# escaped byte of 0x80 or more in the decoded path is such a byte.
_REESCAPED_BYTE = re.compile(r"%[89A-F][0-9A-F]")


def _path_problem(path_info: str) -> str | None:
    if _REESCAPED_BYTE.search(path_info):
        return "bytes that are not valid UTF-8"
    return _text_problem(path_info, one_line=True)


def request_faults(request: HttpRequest) -> list[Fault]:
    """Every unstorable value in the request's path, query string, headers and body."""
    faults: list[Fault] = []
    path_problem = _path_problem(request.path_info)
    if path_problem is not None:
        faults.append(Fault("path", _printable(request.path), path_problem))
    query = _latin1_bytes(request.META.get("QUERY_STRING", ""))
    faults.extend(_pairs_faults(query, "query", one_line=True))
    faults.extend(_header_faults(request))
    if not faults:  # a body is read only for a request that is otherwise acceptable
        faults.extend(_body_faults(request))
    return faults
