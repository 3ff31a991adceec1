"""Every URL pattern of the panel, requested by every kind of person: the designed answer, never
a 500, never a page or redirect that shows a tenant's data to someone outside it.

The routes come from the resolver, so a new page is walked the day it is added, and the walk
fails until ROUTES says which class of page it is (and PARAMETERS how to fill its path). Each
route is requested with GET and with a POST of an empty body, in a transaction rolled back after
each request, as: anonymous, charlie (admin of another tenant), bob (read-only member of tenant
A), the owner of one of tenant A's mailboxes, alice (admin of tenant A) and staff.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from mailboxes.services import mailbox_create
from tests.personas import ACTOR, PASSWORD, World, build_world, owner_of
from webmail_settings.services import preferences_update

# --- The table: every route of the panel, by URL name, and the class of page it is ------------
# A new route fails the walk until it is added here. The classes are defined in EXPECTED below.
ROUTES: dict[str, str] = {
    "login": "public",
    "login_code": "login_step",
    "reauth": "own",
    "panel_password_change": "admin_own",
    "logout": "logout",
    "home": "dispatch",
    "organization_list": "listing",
    "domain_list": "tenant_read",
    "domain_provisioning": "tenant_read",
    "mailbox_list": "tenant_read",
    "mailbox_status": "tenant_read",
    "domain_settings": "tenant_form",
    "domain_dkim": "tenant_form",
    "mailbox_detail": "tenant_form",
    "mailbox_forwarding": "tenant_form",
    "mailbox_security": "tenant_form",
    "mailbox_autoresponder": "tenant_form",
    "mailbox_webmail": "tenant_form",
    "mailbox_delete": "tenant_form",
    "domain_activate": "tenant_write",
    "mailbox_wizard_start": "tenant_write",
    "mailbox_wizard_step": "tenant_write",
    "mailbox_wizard_summary": "tenant_write",
    "mailbox_wizard_confirm": "tenant_action",
    "mailbox_wizard_cancel": "tenant_action",
    "mailbox_deactivate": "tenant_action",
    "mailbox_reactivate": "tenant_action",
    "mailbox_batch": "tenant_action",
    "owner_home": "owner",
    "owner_password_change": "owner",
    "owner_address_book": "owner",
    "owner_address_book_vcard": "owner",
    "organization_address_book": "tenant_read",
    "organization_address_book_vcard": "tenant_read",
    "owner_autoresponder": "owner_form",
    "owner_forwarding": "owner_form",
    "owner_webmail": "owner_form",
    "job_detail": "tenant_read",
    "job_progress": "tenant_read",
    "job_download": "tenant_fetch",
    "import_page": "tenant_write",
    "import_template": "tenant_read",
    "import_preview": "tenant_write",
    "import_begin": "tenant_action",
    "organization_audit": "tenant_read",
    "domain_audit": "tenant_read",
    "mailbox_audit": "tenant_read",
    "audit_all": "staff_read",
    "domain_queue": "tenant_read",
    "domain_queue_refresh": "tenant_action",
    "domain_queue_action": "tenant_action",
    "staff_queue": "staff_read",
    "staff_queue_refresh": "staff_action",
    "staff_queue_action": "staff_action",
    "staff_guard": "staff_read",
    "staff_guard_unban": "staff_action",
    "two_factor": "own",
    "two_factor_enrol": "own",
    "two_factor_backup_codes": "own_action",
    "two_factor_disable": "own_action",
    "two_factor_reset_member": "tenant_write",
    "two_factor_reset_owner": "tenant_write",
    "organization_two_factor": "tenant_form",
    "identity_list": "owner",
    "identity_create": "owner",
    "identity_edit": "owner",
    "signature_create": "owner",
    "signature_edit": "owner",
    "identity_delete": "owner_action",
    "signature_set_default": "owner_action",
    "signature_delete": "owner_action",
    "signature_template_list": "tenant_read",
    "signature_template_create": "tenant_write",
    "signature_template_edit": "tenant_form",
    "signature_template_delete": "tenant_action",
    "mailbox_contact_details": "tenant_form",
    "owner_contact_details": "owner_form",
    "webmail_api_me": "webmail_api",
    "webmail_api_openapi": "public_document",
    "address_create": "tenant_write",
    "generic_address": "tenant_write",
    "invitation_new": "tenant_write",
    "invitation_list": "tenant_read",
    "invitation_resend": "tenant_action",
    "invitation_revoke": "tenant_action",
    "invitation_accept": "invitation_link",
    "api_domain_list": "api",
    "api_domain_detail": "api",
    "api_openapi": "public_document",
    "api_docs": "public_document",
    "api_account_collection": "api_collection",
    "api_account_detail": "api",
    "api_account_deactivate": "api_action",
    "api_account_reactivate": "api_action",
    "api_account_password": "api_action",
    "api_account_forwarding": "api",
    "api_account_autoresponder": "api",
    "api_account_usage": "api",
    "api_account_provisioning": "api",
    "api_me": "api",
    "api_me_usage": "api",
    "api_me_forwarding": "api",
    "api_me_autoresponder": "api",
    "api_keys_organization": "tenant_read",
    "api_key_create": "tenant_write",
    "api_key_revoke": "tenant_action",
    "api_keys_owner": "owner_form",
    "api_key_revoke_owner": "owner_action",
}

# What fills each path parameter: an object of tenant A, or a value. Unknown names fail.
PARAMETERS: dict[str, Callable[[World], object]] = {
    "organization_id": lambda world: world.acme.pk,
    "domain_id": lambda world: world.acme_domain.pk,
    "mailbox_id": lambda world: world.acme_mailbox.pk,  # its owner is the "owner" person
    "user_id": lambda world: world.users["dave"].pk,  # a member of tenant A, none of the walkers
    "token": lambda world: uuid.uuid4(),  # a wizard run nobody started: admins are sent back
    "step": lambda world: "account",
    "identity_id": lambda world: _owner_signature(world).identity_id,
    "signature_id": lambda world: _owner_signature(world).pk,
    "template_id": lambda world: _corporate_template(world).pk,
    "job_id": lambda world: _job(world).pk,
    "upload_id": lambda world: uuid.uuid4(),  # an upload nobody made: admins are sent back
    "invitation_id": lambda world: _invitation(world).pk,
    "invite_token": lambda world: "a-link-nobody-was-sent-" + "x" * 20,
    "domain_name": lambda world: world.acme_domain.name,
    "local_part": lambda world: world.acme_mailbox.local_part,
    "key_id": lambda world: _api_key(world).pk,
    "personal_key_id": lambda world: _personal_api_key(world).pk,
    "queue_id": lambda world: _queued(world).queue_id,
    "action": lambda world: "retry",
    "node_name": lambda world: _queued(world).node.name,
}


def _queued(world: World):
    """A message of tenant A's domain in its node's queue snapshot (as a node report stores)."""
    import time

    from provisioning.models import QueuedMessage
    from provisioning.queue import record_queue

    node = world.acme_domain.node
    found = QueuedMessage.objects.filter(node=node, queue_id="ABCDEF1234").first()
    if found is None:
        row = {
            "id": "ABCDEF1234", "state": "deferred", "arrival": int(time.time()), "size": 1,
            "sender": world.acme_mailbox.address, "recipients": ["x@far.test"], "reason": "451",
        }  # fmt: skip
        record_queue(node.name, [row])
        found = QueuedMessage.objects.get(node=node, queue_id="ABCDEF1234")
    return found


def _api_key(world: World):
    """An API key of tenant A."""
    from api.services import api_key_create

    return api_key_create(actor=ACTOR, organization=world.acme, name="walked").key


def _personal_api_key(world: World):
    """A personal API key of the owner's mailbox (API access turned on for it)."""
    from api.services import api_key_create_personal
    from mailboxes.services import mailbox_update

    mailbox = mailbox_update(actor=ACTOR, mailbox=world.acme_mailbox, changes={"api_access": True})
    return api_key_create_personal(actor=ACTOR, mailbox=mailbox, name="walked").key


def _invitation(world: World):
    """A pending invitation to a new address of tenant A's domain."""
    from invitations.services import Invitee, invitation_create

    return invitation_create(
        actor=ACTOR, domain=world.acme_domain, local_part="walked",
        invitees=[Invitee(email="guest@example.org")],
    )[0][0]  # fmt: skip


def _job(world: World):
    """A finished job of tenant A's domain that nobody walking started (no download for them)."""
    from jobs.models import Job, JobState

    return Job.objects.get_or_create(
        kind="walk", title="A walked job", organization=world.acme, domain=world.acme_domain,
        defaults={"state": JobState.DONE, "total": 1, "done": 1, "download": "secret,csv\n"},
    )[0]  # fmt: skip


def _owner_signature(world: World):
    """A signature (and its identity) of the owner's mailbox, made on first use."""
    from webmail_settings.models import Signature
    from webmail_settings.services import identity_create, signature_create

    mailbox = world.acme_mailbox
    found = Signature.objects.filter(identity__mailbox=mailbox, template=None).first()
    if found is not None:
        return found
    identity = identity_create(
        actor=ACTOR, mailbox=mailbox, display_name="Info", address=mailbox.address
    )
    return signature_create(actor=ACTOR, identity=identity, name="Work", html="<p>Info</p>")


def _corporate_template(world: World):
    """A corporate signature template of tenant A's domain, made on first use."""
    from webmail_settings.corporate_services import signature_template_create
    from webmail_settings.models import SignatureTemplate

    found = SignatureTemplate.objects.filter(domain=world.acme_domain).first()
    if found is not None:
        return found
    return signature_template_create(
        actor=ACTOR, domain=world.acme_domain, name="Corporate", html="<p>{first_name}</p>"
    )


# URL prefixes the walk leaves out, and why.
EXCLUDED: dict[str, str] = {
    "admin/": "Django's admin site: staff only, behind its own login "
    "(test_the_admin_site_is_for_staff_only checks that).",
}

# --- The designed answers ----------------------------------------------------------------------
LOGIN = "login"  # a redirect to the login page
PERSONS = ["anonymous", "charlie", "bob", "owner", "alice", "staff"]
Answer = tuple[object, ...]  # allowed answers: status codes, or LOGIN


def _by_person(
    *, anonymous: tuple[Answer, Answer], outsider: tuple[Answer, Answer],
    read_only: tuple[Answer, Answer], owner: tuple[Answer, Answer], admin: tuple[Answer, Answer],
    staff: tuple[Answer, Answer] | None = None,
) -> dict[str, tuple[Answer, Answer]]:  # fmt: skip
    """(allowed GET answers, allowed POST answers) of each person; staff answer like an admin
    of every tenant unless said otherwise."""
    return {"anonymous": anonymous, "charlie": outsider, "bob": read_only, "owner": owner,
            "alice": admin, "staff": staff or admin}  # fmt: skip


_TO_LOGIN = ((LOGIN,), (LOGIN,))
# A tenant's page, to someone outside the tenant: 404 like a missing object (405 when the
# method is refused before the object is looked up, which says nothing either).
_HIDDEN = ((404,), (404, 405))

EXPECTED: dict[str, dict[str, tuple[Answer, Answer]]] = {
    # The login page: anyone may load it and post to it; the logged-in are sent on.
    "public": _by_person(
        anonymous=((200,), (200,)), outsider=((200, 302), (200, 302)),
        read_only=((200, 302), (200, 302)), owner=((200, 302), (200, 302)),
        admin=((200, 302), (200, 302)),
    ),
    # The login's second step: without a login under way, back to the first.
    "login_step": {person: ((LOGIN, 302), (LOGIN, 302)) for person in PERSONS},
    # The signed-in person's own settings (two-factor login): everyone has their own.
    "own": _by_person(
        anonymous=_TO_LOGIN, outsider=((200,), (200, 302)), read_only=((200,), (200, 302)),
        owner=((200,), (200, 302)), admin=((200,), (200, 302)),
    ),
    # An admin's own panel password; owners are sent to their mailbox password page.
    "admin_own": _by_person(
        anonymous=_TO_LOGIN, outsider=((200,), (200,)), read_only=((200,), (200,)),
        owner=((302,), (302,)), admin=((200,), (200,)),
    ),
    # A POST-only action on the person's own settings.
    "own_action": _by_person(
        anonymous=_TO_LOGIN, outsider=((405,), (200, 302)), read_only=((405,), (200, 302)),
        owner=((405,), (200, 302)), admin=((405,), (200, 302)),
    ),
    # POST only, for everyone.
    "logout": {person: ((405,), (302,)) for person in PERSONS},
    # Sends each person to their start page.
    "dispatch": _by_person(
        anonymous=_TO_LOGIN, outsider=((302,), (302,)), read_only=((302,), (302,)),
        owner=((302,), (302,)), admin=((302,), (302,)),
    ),
    # A list of what the person may see (possibly nothing): never tenant A's data to outsiders.
    "listing": _by_person(
        anonymous=_TO_LOGIN, outsider=((200,), (200, 405)), read_only=((200,), (200, 405)),
        owner=((200,), (200, 405)), admin=((200,), (200, 405)),
    ),
    # Shows a tenant object; changes nothing.
    "tenant_read": _by_person(
        anonymous=_TO_LOGIN, outsider=_HIDDEN, read_only=((200,), (200, 405)), owner=_HIDDEN,
        admin=((200,), (200, 405)),
    ),
    # A settings form: read-only members see it (disabled) and may not post it.
    "tenant_form": _by_person(
        anonymous=_TO_LOGIN, outsider=((404,), (404,)), read_only=((200,), (403,)),
        owner=((404,), (404,)), admin=((200,), (200, 302)),
    ),
    # A page that exists only to change something: read-only members get 403 even for GET.
    "tenant_write": _by_person(
        anonymous=_TO_LOGIN, outsider=_HIDDEN, read_only=((403,), (403, 405)), owner=_HIDDEN,
        admin=((200, 302), (200, 302, 405)),
    ),
    # A POST-only action (buttons): GET is refused before anything is looked up.
    "tenant_action": _by_person(
        anonymous=_TO_LOGIN, outsider=((405,), (404,)), read_only=((405,), (403,)),
        owner=((405,), (404,)), admin=((405,), (302,)),
    ),
    # A POST-only fetch of a tenant's file: outsiders 404; the rest are sent back to the page
    # (only who started a job fetches its file).
    "tenant_fetch": _by_person(
        anonymous=_TO_LOGIN, outsider=((405,), (404,)), read_only=((405,), (302,)),
        owner=((405,), (404,)), admin=((405,), (302,)),
    ),
    # Provider staff's pages (every tenant at once): nobody else has them.
    "staff_read": _by_person(
        anonymous=_TO_LOGIN, outsider=_HIDDEN, read_only=_HIDDEN, owner=_HIDDEN, admin=_HIDDEN,
        staff=((200,), (200, 405)),
    ),
    # Provider staff's POST-only actions: everyone else 404 (a GET is refused first: 405).
    "staff_action": _by_person(
        anonymous=_TO_LOGIN, outsider=((405,), (404,)), read_only=((405,), (404,)),
        owner=((405,), (404,)), admin=((405,), (404,)), staff=((405,), (302,)),
    ),
    # The mailbox owner's own pages: nobody else has them.
    "owner": _by_person(
        anonymous=_TO_LOGIN, outsider=_HIDDEN, read_only=_HIDDEN,
        owner=((200,), (200, 405)), admin=_HIDDEN,
    ),
    # A POST-only action on the owner's own things (delete an identity...).
    "owner_action": _by_person(
        anonymous=_TO_LOGIN, outsider=((405,), (404,)), read_only=((405,), (404,)),
        owner=((405,), (302,)), admin=((405,), (404,)),
    ),
    # The webmail endpoint (JSON, GET only): the owner's session, else 401 (or 404 for a
    # session that is not an owner's); the service key is tested in tests/test_identities.py.
    "webmail_api": _by_person(
        anonymous=((401,), (405,)), outsider=((404,), (405,)), read_only=((404,), (405,)),
        owner=((200,), (405,)), admin=((404,), (405,)),
    ),
    # An invitation's public link: the token is the credential, so everyone gets the same
    # answer; a token nobody was sent is 404 for GET and POST alike.
    "invitation_link": {person: ((404,), (404,)) for person in PERSONS},
    # A public document (the OpenAPI description): GET only, the same for everyone.
    "public_document": {person: ((200,), (405,)) for person in PERSONS},
    # The JSON API (api/auth.py): only an API key lets in, never a session; other methods are
    # refused before anything is looked up. Keys are tested in tests/test_api_keys.py.
    "api": {person: ((401,), (405,)) for person in PERSONS},
    # An API list that also creates (POST): without a key both are 401.
    "api_collection": {person: ((401,), (401,)) for person in PERSONS},
    # An API action (POST only): GET is refused before the key is looked at.
    "api_action": {person: ((405,), (401,)) for person in PERSONS},
    # The owner's settings forms: an empty POST is a valid "all off" and saves.
    "owner_form": _by_person(
        anonymous=_TO_LOGIN, outsider=_HIDDEN, read_only=_HIDDEN,
        owner=((200,), (200, 302)), admin=_HIDDEN,
    ),
}  # fmt: skip


# --- The walk --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    name: str | None
    pattern: str
    parameters: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.name or '(unnamed)'} /{self.pattern}"


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if any(pattern.startswith(excluded) for excluded in EXCLUDED):
            continue
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry, pattern, inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else None
            parameters = tuple(_parameters_of(pattern))
            yield Route(name, pattern, parameters)


def _parameters_of(pattern: str) -> list[str]:
    from django.urls.resolvers import RoutePattern

    return list(RoutePattern(pattern, is_endpoint=True).converters)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver()))


def _classify(route: Route) -> str:
    if route.name is None:
        pytest.fail(f"The route {route} has no name: give it one and classify it in ROUTES.")
    if route.name not in ROUTES:
        pytest.fail(
            f"The route {route} is not classified: add it to ROUTES at the top of "
            f"tests/test_url_walk.py with one of {sorted(EXPECTED)} (or a new class in EXPECTED)."
        )
    unknown = [name for name in route.parameters if name not in PARAMETERS]
    if unknown:
        pytest.fail(
            f"The route {route} has path parameters {unknown} the walk cannot fill: add them to "
            "PARAMETERS at the top of tests/test_url_walk.py (an object of tenant A)."
        )
    return ROUTES[route.name]


# --- The people and what each must never see ---------------------------------------------------
@dataclass
class People:
    world: World
    users: dict[str, object]
    # Text that must not appear in a person's answers (pages and redirects).
    secrets: dict[str, list[str]]

    def client(self, person: str, **options: object) -> Client:
        client = Client(**options)
        if person != "anonymous":
            client.force_login(self.users[person])
        return client


@pytest.fixture
def people(db, domain_name: str) -> People:
    return build_people(domain_name)


def build_people(domain_name: str) -> People:
    """The walkers and what each must not see (also walked by tests/test_hostile_input.py)."""
    world = build_world(domain_name.split(".")[0])
    colleague = mailbox_create(
        actor=ACTOR, domain=world.acme_domain, local_part="boss", password=PASSWORD,
        quota_bytes=1024**3,
    )  # fmt: skip
    # Out of the company address book: the owner's pages must then never show it (it is the
    # colleague the owner may not see; a listed colleague would be on their address book).
    preferences_update(actor=ACTOR, mailbox=colleague, changes={"address_book_visible": False})
    users = {**world.users, "owner": owner_of(world.acme_mailbox)}
    tenant_a = [
        world.acme.name, world.acme_domain.name, world.acme_second.name,
        world.acme_mailbox.address, colleague.address,
    ]  # fmt: skip
    tenant_b = [world.other.name, world.other_domain.name, world.other_mailbox.address]
    hashes = [world.acme_mailbox.password_hash, colleague.password_hash]
    secrets = {
        "anonymous": tenant_a + tenant_b + hashes,
        "charlie": tenant_a + hashes,
        "bob": tenant_b + hashes,
        "owner": [world.acme_second.name, colleague.address, *tenant_b, *hashes],
        "alice": tenant_b + hashes,
        "staff": hashes,
    }
    return People(world, users, secrets)


def _request(client: Client, method: str, url: str) -> HttpResponse:
    # Rolled back: an admin's POST (deactivate, logout...) must not change what comes next.
    with transaction.atomic():
        response = client.generic(method, url)
        transaction.set_rollback(True)
    return response


def _is_login_redirect(response: HttpResponse) -> bool:
    login = resolve_url(settings.LOGIN_URL)
    return response.status_code == 302 and response["Location"].split("?")[0] == login


def _check(response: HttpResponse, allowed: Answer, what: str) -> None:
    assert response.status_code != 500, f"{what}: 500"
    if _is_login_redirect(response) and LOGIN in allowed:
        return
    answer = "redirect to login" if _is_login_redirect(response) else response.status_code
    assert response.status_code in allowed, f"{what}: answered {answer}, designed {allowed}"


def _leaks(response: HttpResponse, secrets: list[str]) -> list[str]:
    text = response.get("Location", "") + " " + _body(response)
    return [secret for secret in secrets if secret and secret in text]


def _body(response: HttpResponse) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


@pytest.mark.parametrize("route", all_routes(), ids=str)
def test_each_route_answers_each_person_as_designed(people: People, route: Route) -> None:
    expected = EXPECTED[_classify(route)]
    kwargs = {name: PARAMETERS[name](people.world) for name in route.parameters}
    url = reverse(route.name, kwargs=kwargs)
    for person in PERSONS:
        for method, allowed in zip(("GET", "POST"), expected[person], strict=True):
            what = f"{method} {url} ({route.name}) as {person}"
            response = _request(people.client(person), method, url)
            _check(response, allowed, what)
            leaked = _leaks(response, people.secrets[person])
            assert not leaked, f"{what}: the answer shows {leaked}"


# Classes whose routes take no CSRF token: an API key in a header, which a browser never sends
# on its own, is their only way in; a session cookie is ignored (so nothing to forge).
BEARER_ONLY = {"api", "api_collection", "api_action"}


@pytest.mark.parametrize("route", all_routes(), ids=str)
def test_every_post_needs_the_csrf_token(people: People, route: Route) -> None:
    bearer_only = _classify(route) in BEARER_ONLY
    kwargs = {name: PARAMETERS[name](people.world) for name in route.parameters}
    url = reverse(route.name, kwargs=kwargs)
    for person in ("anonymous", "alice"):
        client = people.client(person, enforce_csrf_checks=True)
        response = _request(client, "POST", url)
        if bearer_only:  # the session does not count: refused as without credentials
            assert response.status_code in (401, 405), f"POST {url} as {person}"
            continue
        assert response.status_code == 403, f"POST {url} as {person} without a CSRF token"


def test_the_table_names_only_routes_that_exist() -> None:
    names = {route.name for route in all_routes()}
    stale = sorted(set(ROUTES) - names)
    assert not stale, f"ROUTES names routes that no longer exist: {stale}"
    assert set(ROUTES.values()) <= set(EXPECTED), "ROUTES uses a class EXPECTED lacks"


@pytest.mark.parametrize("person", ["anonymous", "charlie", "bob", "owner", "alice"])
def test_the_admin_site_is_for_staff_only(people: People, person: str) -> None:
    response = _request(people.client(person), "GET", "/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not _leaks(response, people.secrets["anonymous"])
