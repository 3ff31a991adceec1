"""An admin changes their own panel password: validated, audited, other sessions ended."""

from __future__ import annotations

import pytest
from django.test import Client

from security.models import AuditEvent
from tests.personas import PASSWORD, World, build_world

pytestmark = pytest.mark.django_db
NEW = "a-new-panel-password-5"


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def _logged_in(name: str) -> Client:
    client = Client()
    assert client.login(username=name, password=PASSWORD)
    return client


def test_a_weak_or_mistyped_password_is_refused_next_to_its_field(world: World) -> None:
    client = _logged_in(world.users["alice"].username)
    cases = [
        ({"old_password": "wrong-one-123", "new_password1": NEW, "new_password2": NEW},
         "Your old password was entered incorrectly"),
        ({"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW + "x"},
         "The two password fields"),
        ({"old_password": PASSWORD, "new_password1": "short", "new_password2": "short"},
         "too short"),
        ({"old_password": PASSWORD, "new_password1": "password123", "new_password2": "password123"},
         "too common"),
    ]  # fmt: skip
    for data, message in cases:
        response = client.post("/password/", data)
        assert response.status_code == 200 and message in response.content.decode(), message
        assert 'class="field-error"' in response.content.decode()
    assert world.users["alice"].check_password(PASSWORD)


def test_changing_it_keeps_this_session_and_ends_the_others(world: World) -> None:
    name = world.users["alice"].username
    here, elsewhere = _logged_in(name), _logged_in(name)
    response = here.post(
        "/password/", {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}
    )
    assert response.status_code == 302
    assert here.get(f"/organizations/{world.acme.pk}/").status_code == 200
    assert elsewhere.get(f"/organizations/{world.acme.pk}/").status_code == 302  # to login
    event = AuditEvent.objects.get(action="user.set_password")
    assert NEW not in str(event.changes) and event.ip_address == "127.0.0.1"
    assert Client().login(username=name, password=NEW)


def test_owners_are_sent_to_their_mailbox_password_page(world: World) -> None:
    client = Client()
    client.post("/login/", {"username": world.acme_mailbox.address, "password": PASSWORD})
    response = client.get("/password/")
    assert response.status_code == 302 and response["Location"] == "/me/password/"
