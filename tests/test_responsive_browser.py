"""Every page of the panel and of the owner portal, as each kind of person, on a phone (390 px)
and on a laptop (1366 px), in Chromium: no sideways scrolling, and no serious or critical
axe-core finding.

The pages come from the URL resolver (tests/test_url_walk.py's routes and path parameters), so
a page added tomorrow is crawled too: each route is requested as the person first, and every
one answering a web page (or a redirect to one) is loaded in the browser. axe-core comes from
npm (package.json; `make test` runs `npm ci`). It is injected as a script, so these contexts
bypass the Content-Security-Policy; tests/test_browser_csp.py checks the pages under it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from mailboxes.services import mailbox_create
from tests.bed import REPO
from tests.browser import ARTIFACTS
from tests.personas import ACTOR, PASSWORD, World, build_world, owner_of
from tests.test_url_walk import PARAMETERS, Route, all_routes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (390, 1366)
BLOCKING = ("serious", "critical")
# Pages worth a screenshot at each width, for a person to look at (by URL name).
SHOWN = {"mailbox_list", "mailbox_detail", "owner_home", "owner_autoresponder", "audit_all"}


@dataclass
class Role:
    name: str
    user: object | None  # None: not logged in
    world: World  # whose objects fill the path parameters


@dataclass
class Visit:
    route: str
    url: str


def _extra_accounts(world: World) -> None:
    """A few more accounts, with names, so the lists have rows that take room."""
    for local_part, first, last in [
        ("christina.vandenberghe-longfellow", "Christina", "Vandenberghe-Longfellow"),
        ("sales", "Sam", "Seller"),
    ]:
        mailbox_create(
            actor=ACTOR, domain=world.acme_domain, local_part=local_part, password=PASSWORD,
            quota_bytes=1024**3, first_name=first, last_name=last,
        )  # fmt: skip


def _roles(world: World) -> list[Role]:
    # The domain admin's pages are those of the one domain they administer.
    dave_mailbox = mailbox_create(
        actor=ACTOR, domain=world.acme_second, local_part="office", password=PASSWORD,
        quota_bytes=1024**3,
    )  # fmt: skip
    dave_world = dataclasses.replace(
        world, acme_domain=world.acme_second, acme_mailbox=dave_mailbox
    )
    return [
        Role("anonymous", None, world),
        Role("staff", world.users["staff"], world),
        Role("org admin", world.users["alice"], world),
        Role("read-only member", world.users["bob"], world),
        Role("domain admin", world.users["dave"], dave_world),
        Role("mailbox owner", owner_of(world.acme_mailbox), world),
    ]


def _pages_of(role: Role, routes: list[Route]) -> list[Visit]:
    """Every route that answers this person's GET with a web page, or a redirect to one."""
    client = Client()
    if role.user is not None:
        client.force_login(role.user)
    login = reverse("login")
    values: dict[str, object] = {}  # each path parameter's object, made once
    visits = []
    for route in routes:
        for name in route.parameters:
            if name not in values:
                values[name] = PARAMETERS[name](role.world)
        url = reverse(route.name, kwargs={name: values[name] for name in route.parameters})
        response = client.get(url)
        if response.status_code == 302:
            if response["Location"].split("?")[0] != login:
                visits.append(Visit(route.name, url))
        elif response.status_code == 200 and _is_document(response):
            visits.append(Visit(route.name, url))
    return visits


def _is_document(response) -> bool:
    """A whole web page (not JSON, a file, or an htmx fragment such as a status badge)."""
    html = response["Content-Type"].startswith("text/html")
    return html and response.content[:100].lower().lstrip().startswith(b"<!doctype html")


def _fingerprint(html: str, role: Role) -> str:
    """The same for two people's copies of one page (only their name and tokens differ): the
    browser lays out and axe judges such a page once per width."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    html = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "", html)
    if role.user is not None:
        html = html.replace(role.user.get_username(), "")
    return hashlib.sha256(html.encode()).hexdigest()


# Runs in the page: how wide the document is, and axe-core's serious and critical findings.
_MEASURE = """async (blocking) => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  const found = result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " :: " + n.failureSummary),
  }));
  const name = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
    + [...e.classList].map(c => "." + c).join("");
  // The outermost elements sticking out on the right: where the sideways scrolling comes from.
  const out = e => e.getBoundingClientRect().right > window.innerWidth + 0.5;
  const culprits = [...document.body.querySelectorAll("*")]
    .filter(e => out(e) && !out(e.parentElement)).slice(0, 6)
    .map(e => `${name(e.parentElement)} > ${name(e)} `
      + `(${Math.round(e.getBoundingClientRect().right)} px)`);
  return {
    width: document.documentElement.scrollWidth, culprits,
    blocking: found.filter(v => blocking.includes(v.impact)),
    other: found.filter(v => !blocking.includes(v.impact)).map(v => `${v.id} (${v.impact})`),
  };
}"""


@pytest.fixture
def crawl(chromium, live_server) -> Iterator[object]:
    contexts = []

    def open_as(role: Role, width: int):
        context = chromium.new_context(viewport={"width": width, "height": 860}, bypass_csp=True)
        contexts.append(context)
        # In every page before its own scripts: far cheaper than a script tag per page.
        context.add_init_script(path=str(AXE))
        if role.user is not None:
            client = Client()
            client.force_login(role.user)
            cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
            )
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield open_as
    for context in contexts:
        context.close()


def _log_out_by_keyboard(page, base: str) -> str | None:
    """Tab to the account menu (opening it with Enter where it is folded) and log out with the
    keyboard alone; says what went wrong, or None."""
    page.goto(base + reverse("home"))
    focused = "document.activeElement.matches(%r)"
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate(focused % ".account-menu > summary"):
            page.keyboard.press("Enter")
        if page.evaluate(focused % ".account-links button"):
            break
    else:
        return "Tab never reached the Log out button"
    box = page.evaluate("(() => { const r = document.activeElement.getBoundingClientRect();"
                        " return [r.left, r.right, r.width, window.innerWidth]; })()")  # fmt: skip
    left, right, shown, width = box
    if not (shown > 0 and left >= 0 and right <= width):
        return f"the focused Log out button is not on screen ({left:.0f}–{right:.0f} of {width} px)"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    if not page.url.split("?")[0].endswith(reverse("login")):
        return f"Enter on Log out led to {page.url}"
    return None


def test_the_owners_header_names_their_address(domain_name: str) -> None:
    world = build_world(domain_name.split(".")[0])
    owner = owner_of(world.acme_mailbox)
    client = Client()
    client.force_login(owner)
    page = client.get(reverse("owner_home")).content.decode()
    header = page.split("<header", 1)[1].split("</header>", 1)[0]
    assert f'<span class="who">{world.acme_mailbox.address}</span>' in header
    assert owner.get_username() not in header  # the internal user name (mailbox-N)


@pytest.mark.timeout(600)  # about a minute alone; more on a machine busy with other work
def test_every_page_fits_a_phone_and_passes_axe(crawl, live_server, domain_name: str) -> None:
    assert AXE.exists(), f"{AXE} is missing: run `npm ci` (make test does)"
    world = build_world(domain_name.split(".")[0])
    _extra_accounts(world)
    roles = _roles(world)
    routes = [route for route in all_routes() if route.name]
    plan = {role.name: _pages_of(role, routes) for role in roles}
    shots = ARTIFACTS / "responsive"
    shots.mkdir(parents=True, exist_ok=True)

    problems: list[str] = []
    report: list[str] = []
    judged: dict[int, set[str]] = {width: set() for width in WIDTHS}
    for role in roles:
        for width in WIDTHS:
            page = crawl(role, width)
            seen: set[str] = set()
            for visit in plan[role.name]:
                response = page.goto(live_server.url + visit.url)
                landed = page.url.split("?")[0]
                if response.status != 200:
                    problems.append(f"{role.name} @{width}px {visit.route}: {response.status}")
                    continue
                if landed in seen:
                    continue  # a redirect to a page already checked
                seen.add(landed)
                fingerprint = _fingerprint(page.content(), role)
                if fingerprint in judged[width]:
                    report.append(f"{role.name} @{width}px {visit.route}: as another person's")
                    continue
                judged[width].add(fingerprint)
                found = page.evaluate(_MEASURE, list(BLOCKING))
                where = f"{role.name} @{width}px {visit.route} {landed[len(live_server.url) :]}"
                report.append(f"{where}: {found['width']} px wide; other: {found['other']}")
                if found["width"] > width:
                    problems.append(f"{where}: {found['width']} px wide (scrolls sideways): "
                                    + "; ".join(found["culprits"]))  # fmt: skip
                for violation in found["blocking"]:
                    nodes = "\n    ".join(violation["nodes"])
                    problems.append(
                        f"{where}: axe {violation['impact']} {violation['id']}: "
                        f"{violation['help']}\n    {nodes}"
                    )
                if visit.route in SHOWN:
                    label = f"{visit.route}-{role.name.replace(' ', '-')}-{width}.png"
                    page.screenshot(path=str(shots / label), full_page=True)
            if role.user is not None:
                trouble = _log_out_by_keyboard(page, live_server.url)
                if trouble:
                    problems.append(f"{role.name} @{width}px, keyboard only: {trouble}")
    print("\n".join(report))
    counts = json.dumps({role: len(visits) for role, visits in plan.items()})
    assert not problems, f"pages crawled per person: {counts}\n" + "\n".join(problems)
