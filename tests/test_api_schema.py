"""The OpenAPI document against the API: every /api/v1/ route is described, and schemathesis,
sending what the document allows with a valid key through the WSGI app, finds no 500 and no
answer (status, content type, headers, body) the document does not describe."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.openapi import openapi_document
from api.services import api_key_create, api_key_create_personal
from mailboxes.models import Mailbox
from mailboxes.services import mailbox_create, mailbox_update
from tests.personas import ACTOR, PASSWORD, World, build_world

PREFIX = "api/v1/"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Per operation; 24 operations, so the whole run stays well under a minute.
EXAMPLES = int(os.environ.get("API_SCHEMA_EXAMPLES", "12"))


def _routes(resolver: URLResolver, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += _routes(entry, route)
        elif route.startswith(PREFIX):
            found.append((route, entry))
    return found


def _as_openapi(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_every_api_route_is_described_with_its_methods() -> None:
    paths = openapi_document()["paths"]
    routes = _routes(get_resolver())
    assert len(routes) >= 16
    for route, _ in routes:
        assert _as_openapi(route) in paths, f"{route} is not in api/openapi.py"
    described = {_as_openapi(route) for route, _ in routes}
    assert set(paths) <= described, set(paths) - described  # nothing described that is not there


def test_the_document_and_its_page_are_served(db) -> None:
    client = Client()
    assert client.get("/api/v1/openapi.json").json()["openapi"].startswith("3.")
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/api/v1/domains/{domain_name}/accounts" in html and "<script" not in html
    assert "AccountCreate" in html


# --- schemathesis ---------------------------------------------------------------------------
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under pytest-xdist schemathesis's cases silently do not run (the test passes having sent
    # nothing): `make test` runs this module in a process of its own.
    raise pytest.UsageError("run tests/test_api_schema.py without pytest-xdist (-n)")
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture
def world(db) -> World:
    return build_world("schema")


@pytest.fixture(autouse=True)
def _as_the_test_client(settings) -> Iterator[None]:
    """The WSGI app as Django's test Client runs it: the test's database connection stays
    open across requests (the handler would close it at each request's end), any Host."""
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    settings.ALLOWED_HOSTS = ["*"]
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def keys(world: World) -> dict[str, str]:
    mailbox = mailbox_update(actor=ACTOR, mailbox=world.acme_mailbox, changes={"api_access": True})
    return {
        "organization": api_key_create(actor=ACTOR, organization=world.acme, name="fuzz").text,
        "personal": api_key_create_personal(actor=ACTOR, mailbox=mailbox, name="fuzz").text,
    }


def _aim_at_real_objects(case, world: World) -> None:
    """Random names would only ever meet 404: half of the cases name the real domain and
    account (re-created when a DELETE removed it), so the answers of real objects are checked."""
    params = case.path_parameters or {}
    if "domain_name" in params and len(str(params.get("local_part", params["domain_name"]))) % 2:
        params["domain_name"] = world.acme_domain.name
        if "local_part" in params:
            params["local_part"] = "info"
            if not Mailbox.objects.filter(domain=world.acme_domain, local_part="info").exists():
                mailbox_create(actor=ACTOR, domain=world.acme_domain, local_part="info",
                               password=PASSWORD)  # fmt: skip


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_answers_as_its_document_says(case, world: World, keys: dict[str, str]) -> None:
    _aim_at_real_objects(case, world)
    key = keys["personal"] if case.path.startswith("/api/v1/me") else keys["organization"]
    case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
