"""Hostile input to every write (issue 19): each mutating form of the panel, the owner portal
and the invitation link, each API write and the CSV import get strings no one should type
(controls, CRLF header injection, NUL, astral and combining characters, right-to-left text,
very long, SQL/HTML/template/path-shaped) in one field at a time, as a person allowed to write.

Every answer must be designed: never a 500; either accepted, and then nothing stored breaks
the plain-text rule (tempusmail/validators.py); or refused, and then nothing at all was written
(every row of the project's tables, audit rows included, as before) and the refusal is shown
at the field (the page re-rendered with the field's error; the API's JSON error naming it).
A 400 from a request guard in front of the views (NUL, surrogates) counts as a refusal too.

Bounded for CI: FUZZ_EXAMPLES examples per endpoint (default 8), no deadline, derandomized
(the same examples every run, from each test's name), no example database. To explore, run
with FUZZ_EXAMPLES=200 and FUZZ_SEED=<n> (printed) for a new random stream.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from api.services import api_key_create, api_key_create_personal
from imports.models import ImportUpload
from invitations.services import Invitee, invitation_create
from mailboxes.services import mailbox_create, mailbox_update
from tests.fuzzing import (
    differences,
    dirty_text,
    forms_of,
    hostile_json,
    hostile_text,
    snapshot,
)
from tests.personas import ACTOR, PASSWORD, World, build_world, owner_of
from webmail_settings.corporate_services import signature_template_create
from webmail_settings.services import identity_create, signature_create

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
SEED = os.environ.get("FUZZ_SEED")
NEW_PASSWORD = "Quartz-Meadow-Lantern-71"


def bounded(function: Callable[..., None]) -> Callable[..., None]:
    configured = settings(
        max_examples=EXAMPLES, deadline=None, derandomize=SEED is None, database=None,
        suppress_health_check=list(HealthCheck), print_blob=True,
    )(function)  # fmt: skip
    return seed(int(SEED))(configured) if SEED is not None else configured


def test_the_seed_is_printed() -> None:
    print(f"fuzz: {EXAMPLES} examples per endpoint, " +
          (f"FUZZ_SEED={SEED}" if SEED else "derandomized (fixed examples)"))  # fmt: skip


# --- the world the writes land in --------------------------------------------------------------
@dataclass
class Fuzz:
    world: World
    clients: dict[str, Client]
    keys: dict[str, str]
    ids: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def fuzz(domain_name: str, settings) -> Fuzz:  # type: ignore[no-untyped-def]
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    world = build_world(domain_name.split(".")[0])
    box = mailbox_update(actor=ACTOR, mailbox=world.acme_mailbox, changes={"api_access": True})
    mailbox_create(actor=ACTOR, domain=world.acme_domain, local_part="boss", password=PASSWORD)
    identity = identity_create(actor=ACTOR, mailbox=box, display_name="Info", address=box.address)
    signature = signature_create(actor=ACTOR, identity=identity, name="Work", html="<p>Hi</p>")
    template = signature_template_create(
        actor=ACTOR, domain=world.acme_domain, name="Corporate", html="<p>{first_name}</p>"
    )
    (_, token), *_ = invitation_create(
        actor=ACTOR, domain=world.acme_domain, local_part="guest",
        invitees=[Invitee(email="guest@example.org")],
    )  # fmt: skip
    clients = {name: world.client(name) for name in ("alice", "staff", "anonymous")}
    clients["owner"] = Client()
    clients["owner"].force_login(owner_of(box))
    keys = {
        "org": api_key_create(actor=ACTOR, organization=world.acme, name="fuzz").text,
        "personal": api_key_create_personal(actor=ACTOR, mailbox=box, name="fuzz").text,
    }
    ids = {"domain_id": world.acme_domain.pk, "mailbox_id": box.pk,
           "organization_id": world.acme.pk, "identity_id": identity.pk,
           "signature_id": signature.pk, "template_id": template.pk, "invite_token": token,
           "domain_name": world.acme_domain.name, "local_part": box.local_part}  # fmt: skip
    return Fuzz(world, clients, keys, ids)


# --- the forms ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    route: str  # URL name; its parameters come from Fuzz.ids
    person: str
    field: str  # a field the form to post has (picks it among the page's forms)
    fill: dict[str, Any] = field(default_factory=dict)  # what a valid post needs besides
    button: str | None = None  # the value of the submit button pressed
    at_field: bool = True  # refusals shown at the field (else anywhere on the page)
    steps: tuple[str, ...] = ()  # wizard steps to pass first
    valid: bool = True  # whether the page's values (and fill) make a valid post
    # Tables a refusal may write by design (the login throttle counts a failure first).
    may_write: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.route}:{self.field}"


NEW = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
PAGES = [
    Page("domain_settings", "alice", "catchall_target"),
    Page("domain_dkim", "alice", "spam_junk_score"),
    Page("mailbox_detail", "alice", "first_name"),
    Page("mailbox_forwarding", "alice", "forward_to"),
    Page("mailbox_security", "alice", "allowed_networks"),
    Page("mailbox_security", "alice", "pw-password",
         {"pw-password": NEW_PASSWORD, "pw-password_confirm": NEW_PASSWORD}),
    Page("mailbox_autoresponder", "alice", "autoreply_subject"),
    Page("mailbox_webmail", "alice", "date_format"),
    Page("mailbox_contact_details", "alice", "title"),
    Page("mailbox_delete", "alice", "password", {"password": PASSWORD}),
    Page("mailbox_wizard_step", "alice", "first_name", {"local_part": "newbie", **NEW}),
    Page("mailbox_wizard_step", "alice", "forward_to", steps=("account", "services", "security")),
    Page("organization_two_factor", "alice", "two_factor_grace_days"),
    Page("signature_template_create", "alice", "name",
         {"name": "Sales", "html": "<p>{first_name}</p>"}),
    Page("signature_template_edit", "alice", "name"),
    Page("address_create", "alice", "local_part", {"local_part": "newbie"}),
    Page("generic_address", "alice", "noreply-local_part",
         {"noreply-password1": NEW_PASSWORD, "noreply-password2": NEW_PASSWORD}, "noreply"),
    Page("generic_address", "alice", "catchall-catchall_target", button="catchall"),
    Page("invitation_new", "alice", "emails",
         {"local_part": "friend", "emails": "friend@example.org"}),
    Page("api_key_create", "alice", "name", {"name": "backup"}),
    Page("domain_activate", "staff", "name", {"name": "fuzz-new.test"}),
    Page("panel_password_change", "alice", "new_password1",
         {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}),
    Page("mailbox_list", "alice", "selected", button="deactivate", at_field=False),
    Page("owner_autoresponder", "owner", "autoreply_body"),
    Page("owner_forwarding", "owner", "forward_to"),
    Page("owner_webmail", "owner", "time_format"),
    Page("owner_contact_details", "owner", "phone"),
    Page("identity_create", "owner", "display_name", {"display_name": "Sales"}),
    Page("identity_edit", "owner", "display_name"),
    Page("signature_create", "owner", "name", {"name": "Home", "html": "<p>Hi</p>", "text": "Hi"}),
    Page("signature_edit", "owner", "html", {"text": "Hi"}),
    Page("api_keys_owner", "owner", "name", {"name": "phone"}),
    Page("owner_password_change", "owner", "new_password",
         {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
          "new_password_again": NEW_PASSWORD}),
    Page("login", "anonymous", "username", {"username": "alice-{suffix}", "password": PASSWORD},
         at_field=False, may_write=("security.LoginAttempt", "security.LoginLock")),
    Page("reauth", "alice", "password", {"password": PASSWORD},  # a failure is audited, counted
         may_write=("security.AuditEvent", "security.LoginAttempt", "security.LoginLock")),
    Page("two_factor_enrol", "alice", "code", valid=False),
    Page("invitation_accept", "anonymous", "first_name",
         {"first_name": "Gina", "last_name": "Guest", "phone": "+41 22 555 01 23", **NEW}),
]  # fmt: skip


def _url(fuzz: Fuzz, page: Page, step: str = "") -> str:
    from django.urls import get_resolver

    pattern = get_resolver().reverse_dict.getlist(page.route)[0][0][0][1]
    kwargs = {name: fuzz.ids.get(name) for name in pattern}
    if page.route == "mailbox_wizard_step":
        kwargs.update(token=fuzz.ids["wizard"], step=step or "account")
    return reverse(page.route, kwargs=kwargs)


def _start_wizard(fuzz: Fuzz, page: Page) -> str:
    """A wizard run with the steps before the fuzzed one passed; the fuzzed step's URL."""
    client = fuzz.clients[page.person]
    start = reverse("mailbox_wizard_start", kwargs={"domain_id": fuzz.ids["domain_id"]})
    started = client.get(start)
    fuzz.ids["wizard"] = started["Location"].rstrip("/").split("/")[-2]
    for step in page.steps:
        url = _url(fuzz, page, step)
        form = next(f for f in forms_of(client.get(url).content.decode()) if not f.action)
        fill = {"local_part": "newbie", **NEW} if step == "account" else {}
        passed = client.post(url, {**form.data(), **fill})
        assert passed.status_code == 302, f"wizard step {step}: {passed.content.decode()[:300]}"
    return _url(fuzz, page, ["account", "services", "security", "options"][len(page.steps)])


def _has_error(html: str, names: list[str]) -> bool:
    return any(f'id="id_{name}_error"' in html for name in names)


def _sent(client: Client, url: str, data: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Post, and undo whatever it wrote: each example starts from the same world."""
    with transaction.atomic():
        before = snapshot()
        response = client.post(url, data)
        after = snapshot()
        transaction.set_rollback(True)
    return response, differences(before, after), dirty_text(before, after)


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_every_form_refuses_hostile_input_at_its_field(fuzz: Fuzz, page: Page) -> None:
    client = fuzz.clients[page.person]
    url = _start_wizard(fuzz, page) if page.route == "mailbox_wizard_step" else _url(fuzz, page)
    html = client.get(url).content.decode()
    form = next((f for f in forms_of(html) if page.field in f.names()), None)
    assert form is not None, f"{url} has no form with {page.field}"
    target = form.action or url
    suffix = fuzz.world.acme_domain.name.split(".")[0].removeprefix("acme-")
    fill = {k: v.replace("{suffix}", suffix) for k, v in page.fill.items()}
    baseline = {**form.data(page.button), **fill}
    # The baseline is accepted: a refusal can then only come from the fuzzed value.
    accepted, _, _ = _sent(client, target, baseline)
    assert accepted.status_code in (200, 302), accepted.status_code
    if page.valid:
        assert not re.search(r'class="(field|form)-error"', accepted.content.decode()), "refused"
    # Password pairs get the same value, so "the two differ" is never the finding.
    pair = [n for n in form.passwords() if "old" not in n and "current" not in n]
    group = pair if page.field in pair else [page.field]

    @bounded
    @given(value=hostile_text())
    def post(value: str) -> None:
        value = value.replace("{domain}", fuzz.world.acme_domain.name)
        data = {**baseline, **dict.fromkeys(group, value)}
        response, changed, stored = _sent(client, target, data)
        changed = [label for label in changed if label not in page.may_write]
        what = f"POST {target} {page.field}={value!r:.120}"
        assert response.status_code != 500, what
        assert not stored, f"{what}: stored {stored}"
        if response.status_code in (302, 303):
            return  # accepted (or sent on with a message): what it stored is clean
        body = response.content.decode(errors="replace")
        shown = re.search(r'class="(field|form)-error"', body)
        if response.status_code == 400:  # the request guard's page (tempusmail/request_guard.py)
            assert not changed and shown, f"{what}: {changed}"
            return
        assert response.status_code == 200, f"{what}: {response.status_code}"
        if not shown:
            return  # accepted on the spot (the API key page shows the new key)
        assert not changed, f"{what}: refused, yet wrote {changed}"
        if page.at_field:
            assert _has_error(body, group), f"{what}: refused without an error at the field"

    post()


# --- the API ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Write:
    method: str
    route: str
    key: str  # "org" or "personal"
    body: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method} {self.route}"


WRITES = [
    Write("post", "api_account_collection", "org", {
        "local_part": "newbie", "password": NEW_PASSWORD, "first_name": "New", "last_name": "Bie",
        "quota_bytes": 1024**3, "forward_to": ["someone@example.org"], "autoreply_subject": "Away",
        "allowed_networks": ["192.0.2.0/24"], "language": "en", "time_zone": "UTC"}),
    Write("patch", "api_account_detail", "org", {
        "first_name": "Ann", "last_name": "Lee", "language": "fr", "time_zone": "Europe/Paris",
        "autoreply_body": "Back soon", "daily_send_limit": 100}),
    Write("post", "api_account_password", "org", {"password": NEW_PASSWORD}),
    Write("patch", "api_account_forwarding", "org", {
        "forward_to": ["someone@example.org"], "forward_keep_copy": True, "spam_to_inbox": False}),
    Write("patch", "api_account_autoresponder", "org", {
        "autoreply_enabled": True, "autoreply_subject": "Away", "autoreply_body": "Back\nsoon",
        "autoreply_start": "2030-01-01T00:00:00Z", "autoreply_end": "2030-01-08T00:00:00Z"}),
    Write("patch", "api_me_forwarding", "personal", {"forward_to": ["someone@example.org"]}),
    Write("patch", "api_me_autoresponder", "personal", {
        "autoreply_subject": "Away", "autoreply_body": "Back soon"}),
]  # fmt: skip
GUARD_ONLY = re.compile("[\x00\ud800-\udfff]")  # what a request guard may refuse without a field


@pytest.mark.parametrize("write", WRITES, ids=str)
def test_every_api_write_names_the_field_it_refuses(fuzz: Fuzz, write: Write) -> None:
    from django.urls import get_resolver

    names = get_resolver().reverse_dict.getlist(write.route)[0][0][0][1]
    url = reverse(write.route, kwargs={name: fuzz.ids[name] for name in names})
    client = Client(HTTP_AUTHORIZATION=f"Bearer {fuzz.keys[write.key]}")

    def send(body: dict[str, Any]):  # type: ignore[no-untyped-def]
        with transaction.atomic():
            before = snapshot()
            data = json.dumps(body)  # ensure_ascii: lone surrogates travel as \ud800
            response = getattr(client, write.method)(url, data, content_type="application/json")
            after = snapshot()
            transaction.set_rollback(True)
        changed, stored = differences(before, after), dirty_text(before, after)
        return response, changed, stored

    accepted, _, _ = send(write.body)
    assert accepted.status_code in (200, 201), accepted.content.decode()[:300]

    @bounded
    @given(name=st.sampled_from([*sorted(write.body), "?"]), value=hostile_json(),
           stranger=hostile_text())  # fmt: skip
    def patch(name: str, value: Any, stranger: str) -> None:
        unknown = name == "?"
        name = (stranger or "x") if unknown else name  # an unknown field, named by an attacker
        response, changed, stored = send({**write.body, name: value})
        what = f"{write} {name!r:.60}={value!r:.120}"
        assert response.status_code != 500, what
        assert not stored, f"{what}: stored {stored}"
        if response.status_code in (200, 201):
            return
        assert response.status_code == 400, f"{what}: {response.status_code}"
        assert not changed, f"{what}: refused, yet wrote {changed}"
        fields = response.json()["error"].get("fields", {})
        guarded = GUARD_ONLY.search(json.dumps(value, ensure_ascii=False) + name)
        # A request guard may name a field whose name is itself hostile in its own words.
        named = any(k == name or k.startswith((f"{name}.", f"{name}[")) for k in fields) or (
            unknown and len(fields) == 1
        )
        assert named or (guarded and not fields), f"{what}: {response.json()}"

    patch()


# --- CSV import ---------------------------------------------------------------------------------
COLUMNS = ["address", "first_name", "last_name", "quota", "services", "forward_to", "password"]
GOOD_LINE = ["newbie", "New", "Bie", "1G", "mail", "someone@example.org", "Qz7#vK2!mW9@pL4$"]


def test_a_hostile_csv_cell_is_named_by_line_and_column(fuzz: Fuzz) -> None:
    client = fuzz.clients["alice"]
    url = reverse("import_page", kwargs={"domain_id": fuzz.ids["domain_id"]})

    def upload(line: list[str]) -> tuple[Any, ImportUpload | None, list[str]]:
        out = io.StringIO()
        csv.writer(out).writerows([COLUMNS, line])
        raw = out.getvalue().encode("utf-8", errors="surrogatepass")
        with transaction.atomic():
            before = snapshot()
            response = client.post(url, {"file": SimpleUploadedFile("a.csv", raw, "text/csv")})
            made = ImportUpload.objects.filter(uploaded_by=fuzz.world.users["alice"]).first()
            changed = [label for label in differences(before, snapshot())
                       if label not in ("imports.ImportUpload", "security.AuditEvent")]  # fmt: skip
            transaction.set_rollback(True)
        return response, made, changed

    response, made, _ = upload(GOOD_LINE)
    assert response.status_code == 302 and made is not None and made.errors == []

    @bounded
    @given(column=st.sampled_from(COLUMNS), value=hostile_text())
    def cell(column: str, value: str) -> None:
        line = [value if name == column else good
                for name, good in zip(COLUMNS, GOOD_LINE, strict=True)]  # fmt: skip
        response, made, changed = upload(line)
        what = f"CSV {column}={value!r:.120}"
        assert response.status_code != 500, what
        assert not changed, f"{what}: a preview wrote {changed}"  # only the checked upload
        if made is None:  # the file itself refused: said on the upload form
            assert response.status_code == 200 and "field-error" in response.content.decode()
            return
        for row in made.rows:
            for name in ("first_name", "last_name"):
                assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", row[name]), what
        if made.errors:
            assert all(error["line"] in (2, None) for error in made.errors), what

    cell()


def test_the_fuzzed_pages_are_every_writing_form() -> None:
    """A new mutating page joins the fuzz: the url walk's form and write classes minus the
    ones with nothing to type (buttons only) must all be listed in PAGES."""
    from tests.test_url_walk import ROUTES

    buttons_only = {"mailbox_wizard_start", "mailbox_wizard_summary", "import_page",
                    "import_preview", "two_factor_reset_member", "two_factor_reset_owner",
                    "two_factor", "two_factor_enrol", "reauth"}  # fmt: skip
    writing = {name for name, kind in ROUTES.items()
               if kind in ("tenant_form", "tenant_write", "owner_form", "admin_own")}  # fmt: skip
    writing |= {"identity_create", "identity_edit", "signature_create", "signature_edit",
                "invitation_accept"}  # fmt: skip
    fuzzed = {page.route for page in PAGES} | {"mailbox_batch"}
    missing = sorted(writing - fuzzed - buttons_only)
    assert not missing, f"add these pages to PAGES in tests/test_fuzz_writes.py: {missing}"
