"""The staff overview shows each account's provisioning status and the reason an apply failed."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from domains.models import Domain
from domains.services import domain_create
from mailboxes.services import mailbox_create
from organizations.services import organization_create
from security.audit import Actor

pytestmark = pytest.mark.django_db
ACTOR = Actor(label="test")


@pytest.fixture
def staff_client() -> Client:
    user = get_user_model().objects.create_user("staff", password="pw-staff-1", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_and_non_staff_are_sent_to_login() -> None:
    assert Client().get("/").status_code == 302
    user = get_user_model().objects.create_user("customer", password="pw-customer-1")
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_statuses_and_apply_error_are_shown(staff_client: Client, domain_name: str) -> None:
    org = organization_create(actor=ACTOR, name="Acme")
    domain = domain_create(actor=ACTOR, name=domain_name, organization=org)
    mailbox_create(actor=ACTOR, domain=domain, local_part="alice", password="pw-alice-1")
    # Nothing was committed in this test, so nothing was applied: the account is Updating.
    Domain.objects.filter(pk=domain.pk).update(apply_error="NodeFileError: postmap failed")
    body = staff_client.get("/").content.decode()
    assert f"alice@{domain_name}" in body
    assert "Updating" in body
    assert "NodeFileError: postmap failed" in body

    Domain.objects.filter(pk=domain.pk).update(
        applied_version=domain.desired_version + 5, desired_version=domain.desired_version + 5,
        apply_error="",
    )  # fmt: skip
    body = staff_client.get("/").content.decode()
    assert "Online" in body and "postmap failed" not in body


def test_overview_query_count_does_not_grow_with_accounts(
    staff_client: Client, domain_name: str, django_assert_max_num_queries
) -> None:
    org = organization_create(actor=ACTOR, name="Acme")
    domain = domain_create(actor=ACTOR, name=domain_name, organization=org)
    for i in range(30):
        mailbox_create(actor=ACTOR, domain=domain, local_part=f"user{i}", password="pw-user-123")
    with django_assert_max_num_queries(8):
        assert staff_client.get("/").status_code == 200
