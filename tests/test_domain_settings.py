"""The domain's Settings tab: defaults for new accounts, password and 2FA policy, catch-all."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from domains.models import Domain
from domains.services import domain_update_settings
from security.models import AuditEvent
from tests.personas import ACTOR, World, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def url(domain: Domain) -> str:
    return reverse("domain_settings", args=[domain.pk])


def valid(domain: Domain, **changes: Any) -> dict[str, Any]:
    data = {
        "default_quota_bytes": "2G",
        "default_language": "de",
        "default_time_zone": "Europe/Berlin",
        "password_min_length": "12",
        "password_expiry_days": "90",
        "force_2fa": "on",
        "catchall_target": f"INFO@{domain.name}",
        "default_date_format": "d.m.Y",
        "default_time_format": "H:i",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_page_shows_current_settings_in_the_tabs(world: World) -> None:
    response = world.client("alice").get(url(world.acme_domain))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'aria-current="page">Settings</a>' in body
    assert 'value="1G"' in body and "Save settings" in body
    assert "at most 10G" in body
    provisioning = world.client("alice").get(
        reverse("domain_provisioning", args=[world.acme_domain.pk])
    )
    assert url(world.acme_domain) in provisioning.content.decode()


def test_admin_saves_every_setting_with_an_audit_row(world: World) -> None:
    domain = world.acme_domain
    version = domain.desired_version
    alice = world.client("alice")
    response = alice.post(url(domain), valid(domain))
    assert response.status_code == 302 and response["Location"] == url(domain)

    domain.refresh_from_db()
    assert domain.default_quota_bytes == 2 * 1024**3
    assert domain.default_language == "de"
    assert domain.default_time_zone == "Europe/Berlin"
    assert domain.password_min_length == 12
    assert domain.password_expiry_days == 90
    assert domain.force_2fa is True
    assert domain.catchall_target == f"info@{domain.name}"
    assert domain.desired_version == version + 1  # the catch-all reaches the mail servers

    event = AuditEvent.objects.get(action="domain.update_settings", object_id=str(domain.pk))
    assert event.actor == world.users["alice"]
    assert event.organization == world.acme
    assert event.changes["before"]["default_quota_bytes"] == 1024**3
    assert event.changes["before"]["catchall_target"] == ""
    assert event.changes["after"]["default_language"] == "de"
    assert event.changes["after"]["password_expiry_days"] == 90

    page = alice.get(url(domain)).content.decode()
    assert "are saved" in page and 'value="2G"' in page


def test_defaults_alone_do_not_bump_the_domain(world: World) -> None:
    domain = world.acme_domain
    version = domain.desired_version
    data = valid(domain, catchall_target="", force_2fa=None)
    assert world.client("alice").post(url(domain), data).status_code == 302
    domain.refresh_from_db()
    assert domain.default_language == "de" and domain.force_2fa is False
    assert domain.desired_version == version


def test_catchall_change_and_removal_bump_desired_version(world: World) -> None:
    domain = world.acme_domain
    alice = world.client("alice")
    start = domain.desired_version
    alice.post(url(domain), valid(domain))
    alice.post(url(domain), valid(domain))  # unchanged: no new version, no audit row
    domain.refresh_from_db()
    assert domain.desired_version == start + 1
    alice.post(url(domain), valid(domain, catchall_target=""))
    domain.refresh_from_db()
    assert domain.catchall_target == "" and domain.desired_version == start + 2
    assert AuditEvent.objects.filter(action="domain.update_settings").count() == 2


def test_unlimited_quota_needs_a_plan_without_a_maximum(world: World) -> None:
    domain = world.acme_domain
    response = world.client("alice").post(url(domain), valid(domain, default_quota_bytes="0"))
    assert_field_error(response, "default_quota_bytes", "at most 10G")
    world.acme.plan.max_quota_bytes = None
    world.acme.plan.save()
    response = world.client("alice").post(url(domain), valid(domain, default_quota_bytes="0"))
    assert response.status_code == 302
    domain.refresh_from_db()
    assert domain.default_quota_bytes == 0
    assert 'value="0"' in world.client("alice").get(url(domain)).content.decode()


def assert_field_error(response: Any, field: str, text: str) -> None:
    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.errors) == [field], form.errors
    assert text in " ".join(form.errors[field])
    assert f'id="id_{field}_error"' in response.content.decode()


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        ("default_quota_bytes", "5X", "is not a size"),
        ("default_quota_bytes", "11G", "at most 10G"),
        ("default_language", "xx", "Select a valid choice"),
        ("default_date_format", "Y/d", "Select a valid choice"),
        ("default_time_zone", "Mars/Olympus", "Select a valid choice"),
        ("password_min_length", "7", "at least 8 characters"),
        ("password_min_length", "129", "At most 128"),
        ("password_min_length", "", "required"),
        ("password_expiry_days", "0", "or leave empty"),
        ("password_expiry_days", "soon", "whole number"),
        ("catchall_target", "not an address", "is not an e-mail address"),
        ("catchall_target", "nobody@{domain}", "There is no account nobody@"),
        ("catchall_target", "info@{other}", "must be an account of"),
    ],
)
def test_each_bad_value_is_shown_at_its_field_and_changes_nothing(
    world: World, field: str, value: str, text: str
) -> None:
    domain = world.acme_domain
    before = Domain.objects.values().get(pk=domain.pk)
    value = value.format(domain=domain.name, other=world.other_domain.name)
    response = world.client("alice").post(url(domain), valid(domain, **{field: value}))
    assert_field_error(response, field, text)
    assert Domain.objects.values().get(pk=domain.pk) == before
    assert not AuditEvent.objects.filter(action="domain.update_settings").exists()


def test_expiry_left_empty_means_never(world: World) -> None:
    domain = world.acme_domain
    alice = world.client("alice")
    alice.post(url(domain), valid(domain))
    alice.post(url(domain), valid(domain, password_expiry_days=""))
    domain.refresh_from_db()
    assert domain.password_expiry_days is None


def test_domain_admin_changes_only_the_domains_given(world: World) -> None:
    dave = world.client("dave")
    own, other = world.acme_second, world.acme_domain
    assert dave.post(url(own), valid(own, catchall_target="")).status_code == 302
    assert dave.get(url(other)).status_code == 404
    assert dave.post(url(other), valid(other)).status_code == 404


def test_anonymous_is_sent_to_login(world: World) -> None:
    for method in ("get", "post"):
        response = getattr(world.client("anonymous"), method)(url(world.acme_domain))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_another_tenant_gets_404_like_a_missing_domain(world: World) -> None:
    charlie = world.client("charlie")
    assert charlie.get(url(world.other_domain)).status_code == 200
    assert charlie.get(url(world.acme_domain)).status_code == 404
    assert charlie.post(url(world.acme_domain), valid(world.acme_domain)).status_code == 404
    missing = reverse("domain_settings", args=[10**9])
    assert charlie.get(missing).status_code == 404


def test_read_only_sees_a_disabled_form_and_cannot_post(world: World) -> None:
    domain = world.acme_domain
    bob = world.client("bob")
    response = bob.get(url(domain))
    assert response.status_code == 200
    body = response.content.decode()
    assert "not change them" in body
    assert "Save settings" not in body
    assert all(field.disabled for field in response.context["form"].fields.values())
    before = Domain.objects.values().get(pk=domain.pk)
    assert bob.post(url(domain), valid(domain)).status_code == 403
    assert Domain.objects.values().get(pk=domain.pk) == before


def test_staff_may_change_any_domain(world: World) -> None:
    domain = world.other_domain
    staff = world.client("staff")
    assert staff.post(url(domain), valid(domain, catchall_target="")).status_code == 302
    domain.refresh_from_db()
    assert domain.default_language == "de"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("default_quota_bytes", -1),
        ("default_language", "xx"),
        ("default_time_zone", "Nowhere/Town"),
        ("password_min_length", 7),
        ("password_expiry_days", 0),
        ("catchall_target", "ghost@example.org"),
    ],
)
def test_the_service_checks_every_rule_itself(world: World, field: str, value: Any) -> None:
    # Callers other than the form (CLI, API) get the same rules, keyed by field.
    with pytest.raises(ValidationError) as raised:
        domain_update_settings(actor=ACTOR, domain=world.acme_domain, changes={field: value})
    assert list(raised.value.message_dict) == [field]


def test_the_service_refuses_fields_that_are_not_settings(world: World) -> None:
    with pytest.raises(ValueError, match="not a domain setting"):
        domain_update_settings(actor=ACTOR, domain=world.acme_domain, changes={"name": "x.test"})
