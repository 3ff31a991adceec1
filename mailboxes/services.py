"""Every write to a mailbox goes through here: validated, audited, provisioned on commit."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings as conf
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from domains.models import Domain
from mailboxes.models import Mailbox, MailboxKind, MailboxState, PasswordHistory
from mailboxes.passwords import check_new_password, check_password_change, hash_password
from mailboxes.rules import may_exceed_plan, normalize_settings
from mailboxes.signals import account_saved
from mailboxes.validators import normalize_local_part
from organizations.models import Organization
from provisioning.services import domain_bump
from security.audit import Actor, audit_event, audit_record, audit_record_many


def _field_error(field: str, exc: ValidationError) -> ValidationError:
    return ValidationError({field: exc.messages})


def _take_account_slot(domain: Domain) -> None:
    """Count one more account on the organization, within its plan's limit.

    One conditional UPDATE of the organization's row, whatever the organization's size. Two
    creates racing for the last free account queue on that row: once the first commits, the
    second's WHERE is checked again against the new count and matches nothing. Callers bump
    the domain first: every account write takes the domain's row, then the organization's.
    """
    organization = domain.organization
    plan = organization.plan
    limit = plan.max_accounts if plan is not None else None
    row = Organization.objects.filter(pk=organization.pk)
    if limit is not None:
        row = row.filter(account_count__lt=limit)
    if not row.update(account_count=F("account_count") + 1):
        raise ValidationError({"local_part": f"The plan's limit of {limit} accounts is reached."})


def _release_account_slots(domain: Domain, count: int) -> None:
    if count:
        Organization.objects.filter(pk=domain.organization_id).update(
            account_count=F("account_count") - count
        )


def _password_expiry(mailbox: Mailbox, changes: dict[str, Any]) -> dict[str, Any]:
    """Keep password_expires_at and password_expired consistent with a change."""
    derived: dict[str, Any] = {}
    if "password_expiry_days" in changes and "password_expires_at" not in changes:
        days, since = changes["password_expiry_days"], mailbox.password_changed_at
        derived["password_expires_at"] = since + timedelta(days=days) if days and since else None
    expires = derived.get("password_expires_at", changes.get("password_expires_at", _UNSET))
    if expires is not _UNSET:
        derived["password_expired"] = expires is not None and expires <= timezone.now()
    return derived


_UNSET = object()


def _mark_changed(mailbox: Mailbox) -> None:
    mailbox.changed_version = domain_bump(mailbox.domain)


@transaction.atomic
def mailbox_create(
    *,
    actor: Actor,
    domain: Domain,
    local_part: str,
    password: str,
    quota_bytes: int | None = None,
    first_name: str = "",
    last_name: str = "",
    settings: dict[str, Any] | None = None,
    kind: MailboxKind = MailboxKind.PERSON,
) -> Mailbox:
    """Create an account; settings holds any other editable field (see mailboxes.rules).

    Without quota_bytes the account gets its domain's default quota.
    """
    if quota_bytes is None:
        quota_bytes = domain.default_quota_bytes
    try:
        local_part = normalize_local_part(local_part)
    except ValidationError as exc:
        raise _field_error("local_part", exc) from exc
    try:
        names = (first_name, last_name)
        check_new_password(password, domain=domain, local_part=local_part, names=names)
    except ValidationError as exc:
        raise _field_error("password", exc) from exc
    if not domain.is_active:
        raise ValidationError({"domain": f"The domain {domain.name} is not active."})
    if quota_bytes < 0:
        raise ValidationError({"quota": "The storage quota cannot be negative."})
    if Mailbox.objects.filter(domain=domain, local_part=local_part).exists():
        raise ValidationError({"local_part": f"{local_part}@{domain.name} already exists."})
    version = domain_bump(domain)
    _take_account_slot(domain)

    mailbox = Mailbox(
        domain=domain,
        local_part=local_part,
        kind=kind,
        password_hash=hash_password(password),
        password_changed_at=timezone.now(),
    )
    values = normalize_settings(
        mailbox,
        {"first_name": first_name.strip(), "last_name": last_name.strip(),
         "quota_bytes": quota_bytes, **(settings or {})},
        staff=may_exceed_plan(actor),
    )  # fmt: skip
    for field, value in values.items():
        setattr(mailbox, field, value)
    for field, value in _password_expiry(mailbox, values).items():
        setattr(mailbox, field, value)
    # Not validate_constraints: the address's uniqueness is checked above (create) and quota,
    # state, kind and the autoreply interval by mailboxes.rules, each with its own message;
    # Django would check them again with a query per constraint, half the cost of creating an
    # account (benchmarks/csv_import.py). The database still enforces them.
    mailbox.full_clean(validate_constraints=False)
    mailbox.changed_version = version
    mailbox.save()
    audit_record(
        actor=actor,
        action="mailbox.create",
        obj=mailbox,
        organization=domain.organization,
        after={"address": mailbox.address, "kind": kind, "state": mailbox.state, **_json(values)},
    )
    account_saved.send(Mailbox, mailbox=mailbox, actor=actor, created=True, changed=set(values))
    return mailbox


def _json(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}


@transaction.atomic
def mailbox_update(*, actor: Actor, mailbox: Mailbox, changes: dict[str, Any]) -> Mailbox:
    """Change any editable settings of an account; the mail servers follow through the loop."""
    values = normalize_settings(mailbox, changes, staff=may_exceed_plan(actor))
    values.update(_password_expiry(mailbox, values))
    changed = {f: v for f, v in values.items() if getattr(mailbox, f) != v}
    if not changed:
        return mailbox
    before = {f: getattr(mailbox, f) for f in changed}
    for field, value in changed.items():
        setattr(mailbox, field, value)
    # Not validate_constraints: the address's uniqueness is checked above (create) and quota,
    # state, kind and the autoreply interval by mailboxes.rules, each with its own message;
    # Django would check them again with a query per constraint, half the cost of creating an
    # account (benchmarks/csv_import.py). The database still enforces them.
    mailbox.full_clean(validate_constraints=False)
    _mark_changed(mailbox)
    mailbox.save(update_fields=[*changed, "changed_version", "updated_at"])
    audit_record(
        actor=actor,
        action="mailbox.update",
        obj=mailbox,
        organization=mailbox.domain.organization,
        before=_json(before),
        after=_json(changed),
    )
    account_saved.send(Mailbox, mailbox=mailbox, actor=actor, created=False, changed=set(changed))
    return mailbox


def _remember_old_password(mailbox: Mailbox) -> None:
    keep = conf.MAILBOX_PASSWORD_HISTORY - 1  # the current password counts as one
    if keep > 0:
        PasswordHistory.objects.create(
            mailbox=mailbox, password_hash=mailbox.password_hash, replaced_at=timezone.now()
        )
    stale = mailbox.password_history.values_list("pk", flat=True)[max(keep, 0) :]
    PasswordHistory.objects.filter(pk__in=list(stale)).delete()


@transaction.atomic
def mailbox_set_password(*, actor: Actor, mailbox: Mailbox, password: str) -> Mailbox:
    """A new password (policy: mailboxes.passwords). The one replaced joins the history, and
    the owner's other panel sessions end (owners.middleware compares password_changed_at)."""
    try:
        check_password_change(mailbox, password)
    except ValidationError as exc:
        raise _field_error("password", exc) from exc
    _remember_old_password(mailbox)
    mailbox.password_hash = hash_password(password)
    mailbox.password_changed_at = timezone.now()
    # A new password restarts the policy's clock (and is not expired).
    policy = {"password_expiry_days": mailbox.password_expiry_days}
    for field, value in _password_expiry(mailbox, policy).items():
        setattr(mailbox, field, value)
    _mark_changed(mailbox)
    mailbox.save(
        update_fields=[
            "password_hash", "password_changed_at", "password_expires_at", "password_expired",
            "changed_version", "updated_at",
        ]
    )  # fmt: skip
    audit_record(
        actor=actor,
        action="mailbox.set_password",
        obj=mailbox,
        organization=mailbox.domain.organization,
    )
    return mailbox


def _set_state(*, actor: Actor, mailbox: Mailbox, state: MailboxState, action: str) -> Mailbox:
    if mailbox.state == state:
        raise ValidationError({"state": f"{mailbox.address} is already {state.label.lower()}."})
    before = mailbox.state
    mailbox.state = state
    _mark_changed(mailbox)
    mailbox.save(update_fields=["state", "changed_version", "updated_at"])
    audit_record(
        actor=actor,
        action=action,
        obj=mailbox,
        organization=mailbox.domain.organization,
        before={"state": before},
        after={"state": state.value},
    )
    return mailbox


@transaction.atomic
def mailbox_deactivate(*, actor: Actor, mailbox: Mailbox) -> Mailbox:
    return _set_state(
        actor=actor, mailbox=mailbox, state=MailboxState.DEACTIVATED, action="mailbox.deactivate"
    )


@transaction.atomic
def mailbox_reactivate(*, actor: Actor, mailbox: Mailbox) -> Mailbox:
    return _set_state(
        actor=actor, mailbox=mailbox, state=MailboxState.ACTIVE, action="mailbox.reactivate"
    )


@transaction.atomic
def mailbox_delete(*, actor: Actor, mailbox: Mailbox) -> None:
    """Remove the account; its node refuses the address, cuts sessions, moves the mail aside."""
    domain = mailbox.domain
    if domain.catchall_target == mailbox.address:
        raise ValidationError(
            {"__all__": f"{mailbox.address} receives the domain's catch-all mail: choose another "
             "catch-all target in the domain's settings first."}
        )  # fmt: skip
    audit_record(
        actor=actor,
        action="mailbox.delete",
        obj=mailbox,
        organization=domain.organization,
        before={"address": mailbox.address, "state": mailbox.state},
    )
    domain_bump(domain)
    _release_account_slots(domain, 1)
    mailbox.delete()


def mailbox_expire_passwords(*, actor: Actor) -> int:
    """Tell the mail servers about every password whose expiry has passed (beat runs this)."""
    due = Mailbox.objects.filter(
        password_expires_at__lte=timezone.now(), password_expired=False
    ).select_related("domain", "domain__organization")
    count = 0
    for mailbox in due.iterator(chunk_size=500):
        with transaction.atomic():
            mailbox.password_expired = True
            _mark_changed(mailbox)
            mailbox.save(update_fields=["password_expired", "changed_version", "updated_at"])
            audit_record(
                actor=actor,
                action="mailbox.password_expired",
                obj=mailbox,
                organization=mailbox.domain.organization,
                before={"password_expired": False},
                after={"password_expired": True},
            )
        count += 1
    return count


# --- many accounts at once (batch actions) ------------------------------------------------


@dataclass
class ManyOutcome:
    """What a batch service did with each id it was given."""

    done: list[int] = dataclasses.field(default_factory=list)
    unchanged: list[int] = dataclasses.field(default_factory=list)  # already in the state asked for
    missing: list[int] = dataclasses.field(default_factory=list)  # no such account (in this domain)
    refused: dict[int, tuple[str, str]] = dataclasses.field(
        default_factory=dict
    )  # id -> (address, why)


def _chunk_of(domain: Domain, ids: list[int]) -> dict[int, Mailbox]:
    """The accounts read after the domain's bump: every account write bumps its domain first,
    so holding the domain's row they cannot change under us."""
    found = Mailbox.objects.filter(domain=domain, pk__in=ids)
    for mailbox in found:
        mailbox.domain = domain  # their address and audit rows name it: no query per account
    return {m.pk: m for m in found}


@transaction.atomic
def mailbox_set_state_many(
    *, actor: Actor, domain: Domain, ids: list[int], state: MailboxState
) -> ManyOutcome:
    """Deactivate or reactivate these accounts in one transaction: one audit row each (as
    mailbox_deactivate/mailbox_reactivate write) and one version bump for them all."""
    action = "mailbox.deactivate" if state == MailboxState.DEACTIVATED else "mailbox.reactivate"
    version = domain_bump(domain)
    accounts = _chunk_of(domain, ids)
    outcome = ManyOutcome(missing=[pk for pk in ids if pk not in accounts])
    events = []
    for pk in ids:
        mailbox = accounts.get(pk)
        if mailbox is None:
            continue
        if mailbox.state == state:
            outcome.unchanged.append(pk)
            continue
        events.append(
            audit_event(
                actor=actor,
                action=action,
                obj=mailbox,
                organization=domain.organization,
                before={"state": mailbox.state},
                after={"state": state.value},
            )
        )
        outcome.done.append(pk)
    Mailbox.objects.filter(pk__in=outcome.done).update(
        state=state, changed_version=version, updated_at=timezone.now()
    )
    audit_record_many(events)
    return outcome


@transaction.atomic
def mailbox_delete_many(*, actor: Actor, domain: Domain, ids: list[int]) -> ManyOutcome:
    """Delete these accounts in one transaction: one audit row each (as mailbox_delete writes),
    one version bump, one change of the organization's count. The catch-all target is refused,
    as by mailbox_delete."""
    domain_bump(domain)
    accounts = _chunk_of(domain, ids)
    outcome = ManyOutcome(missing=[pk for pk in ids if pk not in accounts])
    catchall = Domain.objects.values_list("catchall_target", flat=True).get(pk=domain.pk)
    events = []
    for pk in ids:
        mailbox = accounts.get(pk)
        if mailbox is None:
            continue
        if catchall and mailbox.address == catchall:
            why = "It receives the domain's catch-all mail: choose another catch-all target first."
            outcome.refused[pk] = (mailbox.address, why)
            continue
        events.append(
            audit_event(
                actor=actor,
                action="mailbox.delete",
                obj=mailbox,
                organization=domain.organization,
                before={"address": mailbox.address, "state": mailbox.state},
            )
        )
        outcome.done.append(pk)
    audit_record_many(events)
    _release_account_slots(domain, len(outcome.done))
    Mailbox.objects.filter(pk__in=outcome.done).delete()
    return outcome
