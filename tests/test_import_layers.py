"""Every dependency points one way: no import climbs back up a layer, none closes a circle.

The layers are written down in docs/architecture.md ("Layers"); `LAYERS` below is the same
list, bottom first. grimp (the graph behind import-linter) reads every import statement of
our packages, inside functions too, so a lazy import that only hides a circle still counts.
"""

from __future__ import annotations

import fnmatch
import sys
from functools import cache
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "tempusmail", "organizations", "domains", "mailboxes", "jobs", "provisioning",
    "webmail_settings", "security", "owners", "api", "imports", "invitations",
)  # fmt: skip

# The layers, bottom first: a module may import its own layer and the layers below it.
LAYERS = [
    "toolbox",  # tempusmail's helpers: settings, validators, client address, enqueue, ...
    "audit",  # the audit trail every service writes to
    "records",  # organizations, domains, mail nodes and jobs as rows
    "node",  # versions and dispatch; the node's own code (agent, policy service, mail stack)
    "accounts",  # mailboxes and the services that change accounts and domains
    "account services",  # what the nodes need and report, webmail settings
    "access",  # tenant scoping, login, two-factor, throttling, re-authentication
    "features",  # owners' portal, API, CSV import, invitations
    "entry",  # views, forms, URLs, middleware, commands, admin, template tags
    "urls",  # tempusmail.urls, which mounts every app's URLs
]

# Which layer a module is in: the first pattern (fnmatch, `*` crosses dots) that matches.
PLACES = [
    ("tempusmail.urls", "urls"),
    *((pattern, "entry") for pattern in (
        "*views", "*views.*", "*.forms", "*_forms", "*.urls", "*_urls", "*.wizard", "*.wizard.*",
        "*.management.*", "*.admin", "*.templatetags.*", "*.middleware", "*.openapi", "*.cli",
        "*.cli_*", "api.auth", "api.v1_*", "tempusmail.request_guard",
    )),
    *((pattern, "audit") for pattern in ("security.audit", "security.models", "security.clock")),
    *((pattern, "access") for pattern in (
        "organizations.access", "webmail_settings.access", "security*",
    )),
    *((pattern, "features") for pattern in ("owners*", "api*", "imports*", "invitations*")),
    *((pattern, "records") for pattern in (
        "organizations.models", "organizations.services", "domains.models", "domains.validators",
        "provisioning.models", "jobs*", "webmail_settings.choices",
    )),
    *((pattern, "node") for pattern in (
        "provisioning.services", "provisioning.node*", "provisioning.policy*",
        "provisioning.mailstack*", "provisioning.sent_counter",
    )),
    *((pattern, "accounts") for pattern in ("mailboxes*", "domains*", "organizations*")),
    *((pattern, "account services") for pattern in ("provisioning*", "webmail_settings*")),
    ("tempusmail*", "toolbox"),
]  # fmt: skip


def layer_of(module: str) -> str:
    for pattern, layer in PLACES:
        if fnmatch.fnmatchcase(module, pattern):
            return layer
    raise AssertionError(f"{module} is in no layer: add it to PLACES")


def rank(module: str) -> int:
    return LAYERS.index(layer_of(module))


@cache
def graph() -> grimp.ImportGraph:
    sys.path.insert(0, str(REPO))
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def imports() -> list[tuple[str, str]]:
    g = graph()
    return sorted(
        (module, imported)
        for module in g.modules
        for imported in g.find_modules_directly_imported_by(module)
    )


def test_no_import_climbs_to_a_higher_layer() -> None:
    climbing = [
        f"{module} ({layer_of(module)}) imports {imported} ({layer_of(imported)})"
        for module, imported in imports()
        if rank(imported) > rank(module)
    ]
    assert not climbing, "imports that climb up a layer:\n" + "\n".join(climbing)


def test_no_import_circles() -> None:
    g = graph()
    circles = []
    for module, imported in imports():
        back = g.find_shortest_chain(importer=imported, imported=module)
        if back is not None:
            circles.append(" -> ".join((module, *back)))
    assert not circles, "import circles:\n" + "\n".join(sorted(set(circles)))


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("tempusmail.urls", "urls"),
        ("mailboxes.account_views", "entry"),
        ("security.audit", "audit"),
        ("security.throttle", "access"),
        ("organizations.access", "access"),
        ("mailboxes.services", "accounts"),
        ("provisioning.node.agent", "node"),
        ("tempusmail.client_ip", "toolbox"),
    ],
)  # fmt: skip
def test_layer_assignment(module: str, layer: str) -> None:
    assert layer_of(module) == layer
