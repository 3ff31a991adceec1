"""The panel side of the loop: versions, claims, acknowledgements, and what reconcile resends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from domains.models import Domain
from domains.services import domain_create
from mailboxes.models import Mailbox, SyncStatus
from mailboxes.services import mailbox_create, mailbox_deactivate
from organizations.services import organization_create
from provisioning import services
from provisioning.desired import domain_state
from security.audit import Actor
from security.models import AuditEvent

pytestmark = pytest.mark.django_db
ACTOR = Actor(label="test")


@pytest.fixture
def domain(domain_name: str) -> Domain:
    org = organization_create(actor=ACTOR, name="Acme")
    return domain_create(actor=ACTOR, name=domain_name, organization=org)


def _reload(domain: Domain) -> Domain:
    return Domain.objects.get(pk=domain.pk)


def test_each_change_bumps_the_version_and_marks_the_mailbox(domain: Domain) -> None:
    start = _reload(domain).desired_version
    alice = mailbox_create(actor=ACTOR, domain=domain, local_part="alice", password="pw-secret-a1")
    assert alice.changed_version == start + 1
    mailbox_deactivate(actor=ACTOR, mailbox=alice)
    assert _reload(domain).desired_version == start + 2
    assert Mailbox.objects.get(pk=alice.pk).changed_version == start + 2
    assert list(AuditEvent.objects.values_list("action", flat=True).order_by("id")) == [
        "organization.create",
        "domain.create",
        "mailbox.create",
        "mailbox.deactivate",
    ]


def test_status_follows_the_acknowledged_version(domain: Domain) -> None:
    alice = mailbox_create(actor=ACTOR, domain=domain, local_part="alice", password="pw-secret-a1")
    assert Mailbox.objects.get(pk=alice.pk).sync_status == SyncStatus.UPDATING
    services.record_applied(domain.pk, alice.changed_version - 1)
    assert Mailbox.objects.get(pk=alice.pk).sync_status == SyncStatus.UPDATING
    services.record_applied(domain.pk, alice.changed_version)
    assert Mailbox.objects.get(pk=alice.pk).sync_status == SyncStatus.ONLINE
    mailbox_deactivate(actor=ACTOR, mailbox=alice)
    services.record_applied(domain.pk, _reload(domain).desired_version)
    assert Mailbox.objects.get(pk=alice.pk).sync_status == SyncStatus.OFFLINE


def test_an_old_acknowledgement_never_moves_the_applied_version_back(domain: Domain) -> None:
    version = _reload(domain).desired_version
    services.record_applied(domain.pk, version)
    services.record_applied(domain.pk, version - 1)
    assert _reload(domain).applied_version == version


def test_a_failed_apply_is_recorded_and_cleared_by_the_next_success(domain: Domain) -> None:
    version = _reload(domain).desired_version
    services.record_applied(domain.pk, version, "NodeFileError: disk full")
    d = _reload(domain)
    assert d.apply_error == "NodeFileError: disk full" and d.apply_failures == 1
    assert d.applied_version < version
    services.record_applied(domain.pk, version)
    d = _reload(domain)
    assert d.apply_error == "" and d.apply_failures == 0 and d.applied_version == version


def test_only_one_claim_ships_a_version(domain: Domain) -> None:
    assert services.claim_for_sending(domain.pk) is not None
    assert services.claim_for_sending(domain.pk) is None  # coalesced: already sent
    assert services.claim_for_sending(domain.pk, force=True) is not None  # reconcile resends


def test_the_desired_state_holds_what_the_node_needs(domain: Domain) -> None:
    mailbox_create(
        actor=ACTOR, domain=domain, local_part="bob", password="pw-secret-b2", quota_bytes=5
    )
    alice = mailbox_create(actor=ACTOR, domain=domain, local_part="alice", password="pw-secret-a1")
    mailbox_deactivate(actor=ACTOR, mailbox=alice)
    state = domain_state(_reload(domain), version=42)
    assert state.version == 42 and state.name == domain.name and state.id == domain.pk
    assert [(a.local_part, a.active, a.quota_bytes) for a in state.accounts] == [
        ("alice", False, 1024**3),
        ("bob", True, 5),
    ]
    assert all(a.password_hash.startswith("$6$") for a in state.accounts)


def test_reconcile_resends_unsent_and_lost_changes_with_backoff_after_failures(
    domain: Domain, settings
) -> None:
    settings.PROVISIONING_RESEND_AFTER_SECONDS = 10
    assert services.domains_to_resend() == [(domain.pk, False)]  # never sent (broker was down)

    services.claim_for_sending(domain.pk)
    assert services.domains_to_resend() == []  # just sent: give the node time

    long_ago = timezone.now() - timedelta(seconds=11)
    Domain.objects.filter(pk=domain.pk).update(sent_at=long_ago)
    assert services.domains_to_resend() == [(domain.pk, True)]  # lost: force a resend

    Domain.objects.filter(pk=domain.pk).update(apply_failures=2)  # next try after 40 s
    assert services.domains_to_resend() == []
    Domain.objects.filter(pk=domain.pk).update(sent_at=timezone.now() - timedelta(seconds=41))
    assert services.domains_to_resend() == [(domain.pk, True)]

    services.record_applied(domain.pk, _reload(domain).desired_version)
    assert services.domains_to_resend() == []


def test_retry_delay_is_capped() -> None:
    assert services.retry_delay(0) < services.retry_delay(1) < services.retry_delay(2)
    assert services.retry_delay(50) == services.MAX_RETRY_SECONDS


def test_new_accounts_get_the_domains_default_quota(domain: Domain) -> None:
    Domain.objects.filter(pk=domain.pk).update(default_quota_bytes=3 * 1024**3)
    domain.refresh_from_db()
    mailbox = mailbox_create(actor=ACTOR, domain=domain, local_part="q", password="pw-quota-1")
    assert mailbox.quota_bytes == 3 * 1024**3


def test_the_catch_all_target_cannot_be_deleted(domain: Domain) -> None:
    from django.core.exceptions import ValidationError

    from mailboxes.services import mailbox_delete

    box = mailbox_create(actor=ACTOR, domain=domain, local_part="box", password="pw-catch-1")
    Domain.objects.filter(pk=domain.pk).update(catchall_target=box.address)
    box = Mailbox.objects.select_related("domain").get(pk=box.pk)
    with pytest.raises(ValidationError, match="catch-all"):
        mailbox_delete(actor=ACTOR, mailbox=box)
    assert Mailbox.objects.filter(pk=box.pk).exists()


def test_password_expiry_follows_policy_explicit_dates_and_changes(domain: Domain) -> None:
    from mailboxes.services import (
        mailbox_expire_passwords,
        mailbox_set_password,
        mailbox_update,
    )

    box = mailbox_create(actor=ACTOR, domain=domain, local_part="exp", password="pw-expire-1")
    assert box.password_expires_at is None and not box.password_expired
    mailbox_update(actor=ACTOR, mailbox=box, changes={"password_expiry_days": 30})
    assert box.password_expires_at == box.password_changed_at + timedelta(days=30)
    assert not box.password_expired

    past = timezone.now() - timedelta(days=1)
    mailbox_update(actor=ACTOR, mailbox=box, changes={"password_expires_at": past})
    assert box.password_expired  # already past: refused from the next apply on

    mailbox_set_password(actor=ACTOR, mailbox=box, password="pw-expire-2")
    box.refresh_from_db()
    assert not box.password_expired
    assert box.password_expires_at == box.password_changed_at + timedelta(days=30)

    Mailbox.objects.filter(pk=box.pk).update(password_expires_at=timezone.now())
    version = _reload(domain).desired_version
    assert mailbox_expire_passwords(actor=ACTOR) == 1
    assert Mailbox.objects.get(pk=box.pk).password_expired
    assert _reload(domain).desired_version == version + 1
    assert mailbox_expire_passwords(actor=ACTOR) == 0


@pytest.mark.django_db(transaction=True)  # real commits: their callbacks are what is tested
def test_one_transaction_sends_a_domain_once_however_many_changes(
    domain: Domain, monkeypatch
) -> None:
    from django.db import transaction

    sent: list[int] = []
    monkeypatch.setattr(services, "dispatch", lambda domain_id, **_: sent.append(domain_id))
    with transaction.atomic():
        for n in range(5):
            mailbox_create(
                actor=ACTOR, domain=domain, local_part=f"batch{n}", password="pw-secret-a1"
            )
        try:
            with transaction.atomic():  # a line that fails after its bump: its send goes...
                services.domain_bump(domain)
                raise RuntimeError
        except RuntimeError:
            pass
    assert sent == [domain.pk]
    sent.clear()
    with transaction.atomic():
        try:
            with transaction.atomic():
                services.domain_bump(domain)
                raise RuntimeError
        except RuntimeError:
            pass
        services.domain_bump(domain)  # ...and a later change queues its own
    assert sent == [domain.pk]
