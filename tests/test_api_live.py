"""An account created through the API reaches the live mail servers: it logs in over IMAP,
and after a deactivation through the API it no longer does."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from api.services import api_key_create
from domains.services import domain_create
from organizations.services import organization_create
from security.audit import Actor
from tests.mailclient import imap_login, wait_until

pytestmark = pytest.mark.live
ACTOR = Actor(label="test")


def test_an_account_created_through_the_api_logs_in_over_imap(live, domain_name: str) -> None:
    org = organization_create(actor=ACTOR, name=f"Org {domain_name}")
    domain_create(actor=ACTOR, name=domain_name, organization=org)
    key = api_key_create(actor=ACTOR, organization=org, name="crm").text
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = json.dumps({"local_part": "robot"})
    created = api.post(f"/api/v1/domains/{domain_name}/accounts", body, "application/json")
    assert created.status_code == 201, created.content
    address, password = created.json()["address"], created.json()["password"]
    assert wait_until(lambda: imap_login(live.ports, address, password), 15)
    status = api.get(f"/api/v1/domains/{domain_name}/accounts/robot/provisioning").json()
    assert wait_until(
        lambda: (
            api.get(f"/api/v1/domains/{domain_name}/accounts/robot/provisioning").json()["status"]
            == "online"
        ),
        15,
    ), status
    off = api.post(f"/api/v1/domains/{domain_name}/accounts/robot/deactivate")
    assert off.status_code == 200
    assert wait_until(lambda: not imap_login(live.ports, address, password), 15)
