"""Every URL of the panel, the owner's portal and the API, as every person, with values nothing
behind the panel can hold: a NUL, bytes that are not UTF-8 (%FF), a lone surrogate
(%ED%A0%80), a control character and a 100 kB value, in every path part, every query parameter
the view reads and every field of every form the person is shown (and every field of the API's
JSON bodies). Never a 5xx; a NUL, bad UTF-8 or a surrogate anywhere, and a control character in
the path or the query string, are refused with 400 (tempusmail/request_guard.py); a refused
request changes no row. Run it on PostgreSQL too (DATABASE_URL=postgres://...): SQLite stores
a NUL, PostgreSQL answers it with an error.

The routes, their classes and how to fill their paths come from tests/test_url_walk.py, so a new
page is walked here the day it is added there. To stay quick: a value the guard refuses is sent
once per route and place (the guard runs before the session is read, so the person cannot
matter); 100 kB, which reaches the views, is sent as every person the view answers; a form is
walked by the first person shown it (staff first, whose posts reach the saving code).
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

import pytest
from django.db import connection, transaction
from django.http import HttpResponse, QueryDict
from django.test import Client
from django.urls import reverse

from api.models import ApiKey
from api.openapi import openapi_document
from api.services import api_key_create, api_key_create_personal
from mailboxes.services import mailbox_update
from security import clock
from tests.personas import ACTOR
from tests.test_url_walk import (
    PARAMETERS,
    PERSONS,
    People,
    Route,
    _classify,
    _is_login_redirect,
    all_routes,
    build_people,
)

# Percent-encoded as they travel in a query string, a form body or a path.
BIG = "x" * 100_000
HOSTILE = {
    "NUL": "a%00b",
    "invalid UTF-8": "a%FFb",
    "lone surrogate": "a%ED%A0%80b",
    "control character": "a%1Bb",
    "100 kB": BIG,
}
# Refused wherever they appear. A control character is refused in one-line places only; in a
# form body it may be a textarea's newline, and is the form's to judge.
ALWAYS_REFUSED = {"NUL", "invalid UTF-8", "lone surrogate"}
# The same as JSON text inside a JSON body (bad UTF-8 is sent as a raw byte, separately).
JSON_HOSTILE = {
    "NUL": '"a\\u0000b"',
    "lone surrogate": '"a\\ud800b"',
    "control character": '"a\\u001bb"',
    "100 kB": f'"{BIG}"',
}
API_CLASSES = {"api", "api_collection", "api_action"}
KEY_PERSONS = ("organization key", "personal key")


# --- What changed: rows inserted, updated or deleted so far, by the database's own count ------
CHANGES_SO_FAR = {
    # This transaction's row changes so far, per table (PostgreSQL's statistics views).
    "postgresql": "SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) "
    "FROM pg_stat_xact_user_tables",
    # Rows changed through this connection since it opened.
    "sqlite": "SELECT total_changes()",
}


def _changes_so_far() -> int:
    with connection.cursor() as cursor:
        cursor.execute(CHANGES_SO_FAR[connection.vendor])
        return int(cursor.fetchone()[0])


# --- Which query parameters a view reads -------------------------------------------------------
class _ReadKeys:
    """Records the names views look up in a QueryDict (GET or POST) while on."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.on = False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for method in ("get", "getlist", "__getitem__", "__contains__"):
            original = getattr(QueryDict, method)
            monkeypatch.setattr(QueryDict, method, self._recording(original))

    def _recording(self, original):
        def recording(querydict, key, *args, **kwargs):
            if self.on and isinstance(key, str):
                self.names.add(key)
            return original(querydict, key, *args, **kwargs)

        return recording


# --- The forms a page shows ------------------------------------------------------------------
@dataclass
class Form:
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # (name, current value)


class _Forms(HTMLParser):
    """POST forms of a page with their fields' names and current values."""

    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: str | None = None
        self._select: str | None = None
        self._select_value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "form":
            post = a.get("method", "get").lower() == "post"
            self._form = Form(a.get("action") or self.page_url) if post else None
            if self._form is not None:
                self.forms.append(self._form)
        if self._form is None or not a.get("name"):
            if tag == "option" and self._select is not None and self._select_value is None:
                self._select_value = a.get("value", "")
            return
        if tag == "input" and a.get("type") not in ("submit", "button", "file", "image"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self._form.fields.append((a["name"], a.get("value", "")))
        elif tag == "textarea":
            self._textarea = a["name"]
            self._form.fields.append((a["name"], ""))
        elif tag == "select":
            self._select, self._select_value = a["name"], None

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea is not None:
            name, value = self._form.fields[-1]
            self._form.fields[-1] = (name, value + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._form is not None and self._select is not None:
            self._form.fields.append((self._select, self._select_value or ""))
            self._select = None
        elif tag == "form":
            self._form = None


def _forms_of(response: HttpResponse, url: str) -> list[Form]:
    if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
        return []
    parser = _Forms(url)
    parser.feed(response.content.decode(errors="replace"))
    return parser.forms


def _body_with(form: Form, name: str, raw_value: str) -> str:
    """The form's body, urlencoded, with one field's value replaced by a raw (encoded) one."""
    parts = []
    for field_name, value in form.fields:
        encoded = raw_value if field_name == name else quote(value, safe="")
        parts.append(f"{quote(field_name, safe='')}={encoded}")
    return "&".join(parts)


# --- One walker per person ---------------------------------------------------------------------
@dataclass
class Walk:
    person: str
    client: Client
    failures: list[str] = field(default_factory=list)
    requests: int = 0

    def send(self, what: str, kind: str, method: str, url: str, *, must_refuse: bool,
             body: str | bytes = "", content_type: str = "application/x-www-form-urlencoded",
             **headers: str) -> HttpResponse:  # fmt: skip
        self.requests += 1
        label = f"{kind} {what} as {self.person}"
        cookies = copy.deepcopy(self.client.cookies)  # a logout or a new session is undone too
        with transaction.atomic():
            before = _changes_so_far()
            response = self.client.generic(method, url, body, content_type, **headers)
            after = _changes_so_far()
            transaction.set_rollback(True)
        self.client.cookies = cookies
        status = response.status_code
        if status >= 500:
            self.failures.append(f"{label}: {status}")
        elif must_refuse and status != 400:
            self.failures.append(f"{label}: answered {status}, not refused with 400")
        elif status >= 400 and before != after:
            self.failures.append(f"{label}: refused ({status}) but rows changed")
        if status == 400 and url.startswith("/api/") and "json" not in response["Content-Type"]:
            self.failures.append(f"{label}: a 400 of the API that is not JSON")
        return response


_SENTINELS = {"int": 987_654_321, "uuid": uuid.UUID(int=0x5EED)}  # else a text marker


def _url(route: Route, people: People, hostile_parameter: str | None = None,
         raw: str = "") -> str:  # fmt: skip
    """The route's URL; with hostile_parameter, that path part replaced by a raw value."""
    kwargs = {name: PARAMETERS[name](people.world) for name in route.parameters}
    if hostile_parameter is None:
        return reverse(route.name, kwargs=kwargs)
    converter = re.search(rf"<(\w+):{hostile_parameter}>", route.pattern)
    sentinel = _SENTINELS.get(converter.group(1) if converter else "str", "hostilemarker0")
    kwargs[hostile_parameter] = sentinel
    return reverse(route.name, kwargs=kwargs).replace(str(sentinel), raw, 1)


def _client(people: People, person: str) -> Client:
    if person in KEY_PERSONS:
        world = people.world
        if person == "organization key":
            text = api_key_create(actor=ACTOR, organization=world.acme, name="hostile").text
        else:
            mailbox = mailbox_update(
                actor=ACTOR, mailbox=world.acme_mailbox, changes={"api_access": True}
            )
            text = api_key_create_personal(actor=ACTOR, mailbox=mailbox, name="hostile").text
        # Stamped "used" now, as after an earlier call: the walk's calls then change no row
        # for bookkeeping (api_key_mark_used writes at most once a minute).
        prefix = text.split("_")[1]
        ApiKey.objects.filter(prefix=prefix).update(
            last_used_at=clock.now(), last_used_ip="127.0.0.1"
        )
        return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {text}")
    client = Client(raise_request_exception=False)
    if person != "anonymous":
        client.force_login(people.users[person])
    return client


@cache
def _json_bodies() -> dict[tuple[str, str], list[str]]:
    """(OpenAPI path, method) → the fields of its JSON request body."""
    document = openapi_document()
    schemas = document["components"]["schemas"]
    bodies = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
            if ref:
                bodies[(path, method.upper())] = list(schemas[ref.split("/")[-1]]["properties"])
    return bodies


def _openapi_path(route: Route) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.pattern)


# Refusals happen before the session is read, so they cannot depend on who asks: each is sent
# once per route, by the first person walking it (and once more with an API key). Values that
# pass the guard (100 kB; controls in bodies) reach the views, and are sent as every person.
_REFUSALS_SENT: set[tuple[object, ...]] = set()


def _sent_before(walk: Walk, route: Route, *what: str) -> bool:
    # With an API key and without: the API's refusals are also sent where a query would run.
    key = (str(route), walk.person in KEY_PERSONS, *what)
    if key in _REFUSALS_SENT:
        return True
    _REFUSALS_SENT.add(key)
    return False


def _walk_route(walk: Walk, route: Route, people: People, reads: _ReadKeys,
                seen_forms: set) -> None:  # fmt: skip
    url = _url(route, people)
    is_api = _classify(route) in API_CLASSES
    # A plain GET first: which query parameters the view reads, which forms the page shows.
    reads.names.clear()
    reads.on = True
    page = walk.send(url, "plain GET", "GET", url, must_refuse=False)
    reads.on = False
    # 100 kB passes the guard: sent where this person reaches the view. q (every search box) is
    # sent with the refused values everywhere, read or not.
    reached = page.status_code < 400 and not _is_login_redirect(page)
    read = sorted(reads.names) if reached else []
    for label, raw in HOSTILE.items():
        refuse = label != "100 kB"
        if not (refuse or reached):
            continue
        for parameter in sorted({*read, "q"}) if refuse else read:
            if refuse and _sent_before(walk, route, "query", parameter, label):
                continue
            target = f"{url}?{quote(parameter)}={raw}"
            walk.send(f"{url} ?{parameter}= ({label})", "query", "GET", target, must_refuse=refuse)
        for parameter in route.parameters[-1:]:  # the guard reads the whole path: one part will do
            if refuse and _sent_before(walk, route, "path", parameter, label):
                continue
            target = _url(route, people, parameter, raw)
            walk.send(f"{route} <{parameter}> ({label})", "path", "GET", target, must_refuse=refuse)
    if is_api:
        _walk_json(walk, route, url)
        return
    for form in _forms_of(page, url):
        action = urlsplit(form.action).path or url
        # Paths hold the world's ids, which differ per test: the route's pattern does not.
        key = (re.sub(r"\d+", "N", action), tuple(name for name, _ in form.fields))
        if key in seen_forms:
            continue
        seen_forms.add(key)
        for name, _ in form.fields:
            for label, raw in HOSTILE.items():
                body = _body_with(form, name, raw)
                walk.send(f"{action} field {name} ({label})", "form", "POST", form.action,
                          must_refuse=label in ALWAYS_REFUSED, body=body)  # fmt: skip


def _walk_json(walk: Walk, route: Route, url: str) -> None:
    for (path, method), fields in _json_bodies().items():
        if path != _openapi_path(route):
            continue
        for name in fields:
            for label, value in JSON_HOSTILE.items():
                if label in ALWAYS_REFUSED and _sent_before(walk, route, method, name, label):
                    continue
                body = f'{{"{name}": {value}}}'
                walk.send(f"{method} {url} {name} ({label})", "json", method, url,
                          must_refuse=label in ALWAYS_REFUSED, body=body,
                          content_type="application/json")  # fmt: skip
        if _sent_before(walk, route, method, "raw"):
            continue
        raw = b'{"' + fields[0].encode() + b'": "a\xffb"}'
        walk.send(f"{method} {url} raw \\xff", "json", method, url, must_refuse=True,
                  body=raw, content_type="application/json")  # fmt: skip


_SEEN_FORMS: set[tuple[str, tuple[str, ...]]] = set()


# Who may change most first: a form is walked by the first person shown it, and staff's and the
# owner's posts reach the saving code, where a read-only member's stop at 403.
WALK_ORDER = ["staff", "owner", "alice", "bob", "charlie", "anonymous"]
assert sorted(WALK_ORDER) == sorted(PERSONS), "a person of the URL walk is not walked here"


@pytest.mark.parametrize("person", [*WALK_ORDER, *KEY_PERSONS])
def test_hostile_values_are_refused_everywhere(
    db, domain_name: str, person: str, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    settings.API_RATE_LIMIT_PER_MINUTE = 0  # no Redis counting: the walk is not a load test
    people = build_people(domain_name)
    reads = _ReadKeys()
    reads.install(monkeypatch)
    walk = Walk(person, _client(people, person))
    seen_forms = _SEEN_FORMS  # a form another person was shown is walked once (by them)
    for route in all_routes():
        api_route = _classify(route) in API_CLASSES
        if api_route != (person in KEY_PERSONS) and person != "anonymous":
            continue  # the API is walked with keys (and without any); pages with sessions
        _walk_route(walk, route, people, reads, seen_forms)
    assert walk.requests > 50  # at least every route once
    assert not walk.failures, f"{len(walk.failures)} of {walk.requests} requests:\n" + "\n".join(
        walk.failures[:60]
    )
