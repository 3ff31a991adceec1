"""DKIM keys of a domain: generate, rotate, activate, retire (issue 15).

A key is born "next": its TXT record is to be published, nothing signs with it yet. The admin
activates it once the record is visible; then the node signs with it, and the key it replaces
stays "active" (its record must stay published for mail in flight) until retire_after, when
the beat task retires it and forgets its private key. So signing never has a gap. Audit rows
name the selector and algorithm, never a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from domains.dkim_keys import ALGORITHMS, generate, txt_strings, txt_value, zone_line
from domains.models import DkimKey, DkimState, Domain
from provisioning.services import domain_bump
from security.audit import Actor, audit_record

# How long a replaced key's record must stay published: mail signed with it may sit in
# queues (Postfix's maximal_queue_lifetime is 5 days) and be verified on arrival.
RETIRE_GRACE = timedelta(days=7)


@dataclass(frozen=True)
class DkimRecord:
    """What the panel and `domain dkim --show` print for one key (no private key)."""

    selector: str
    algorithm: str
    state: str
    signing: bool
    name: str  # selector._domainkey.domain
    value: str  # v=DKIM1; k=...; p=...
    strings: list[str]  # value in 255-byte character-strings
    zone: str  # the zone-file line
    created_at: datetime
    activated_at: datetime | None
    retire_after: datetime | None


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        message = f"Unknown algorithm “{algorithm}”: use rsa or ed25519."
        raise ValidationError({"algorithm": message})


def _new_selector(domain: Domain, algorithm: str) -> str:
    # tm<yyyymmdd> (ed<...> for Ed25519), a letter added when that day has one already.
    prefix = "ed" if algorithm == "ed25519" else "tm"
    today: datetime = timezone.now()
    base = prefix + today.strftime("%Y%m%d")
    taken = set(domain.dkim_keys.values_list("selector", flat=True))
    for suffix in ["", *"bcdefghijklmnopqrstuvwxyz"]:
        if base + suffix not in taken:
            return f"{base}{suffix}"
    raise ValidationError({"selector": "Too many DKIM keys made today; try again tomorrow."})


def _make(actor: Actor, domain: Domain, algorithm: str, action: str) -> DkimKey:
    pair = generate(algorithm)
    key = DkimKey.objects.create(
        domain=domain,
        selector=_new_selector(domain, algorithm),
        algorithm=algorithm,
        private_key=pair.private_pem,
        public_key=pair.public_b64,
        state=DkimState.NEXT,
    )
    audit_record(
        actor=actor,
        action=action,
        obj=domain,
        organization=domain.organization,
        after={"selector": key.selector, "algorithm": algorithm, "state": key.state},
    )
    return key


def _locked(domain: Domain) -> Domain:
    # One DKIM change per domain at a time: two generates must not both find "no key".
    return Domain.objects.select_for_update().select_related("organization").get(pk=domain.pk)


def _live(domain: Domain, algorithm: str) -> list[DkimKey]:
    return list(domain.dkim_keys.filter(algorithm=algorithm).exclude(state=DkimState.RETIRED))


@transaction.atomic
def dkim_generate(*, actor: Actor, domain: Domain, algorithm: str = "rsa") -> DkimKey:
    """The domain's first key of this algorithm, to publish and then activate."""
    _check_algorithm(algorithm)
    domain = _locked(domain)
    if _live(domain, algorithm):
        raise ValidationError(
            {"algorithm": f"{domain.name} already has a {algorithm} DKIM key; rotate it instead."}
        )
    return _make(actor, domain, algorithm, "domain.dkim_generate")


@transaction.atomic
def dkim_rotate(*, actor: Actor, domain: Domain, algorithm: str = "rsa") -> DkimKey:
    """A second key beside the signing one: publish its record, then activate it."""
    _check_algorithm(algorithm)
    domain = _locked(domain)
    live = _live(domain, algorithm)
    if not any(k.state == DkimState.ACTIVE for k in live):
        raise ValidationError(
            {"algorithm": f"{domain.name} has no active {algorithm} DKIM key to rotate."}
        )
    pending = [k.selector for k in live if k.state == DkimState.NEXT]
    if pending:
        raise ValidationError(
            {"selector": f"Key {pending[0]} is waiting for activation; activate it first."}
        )
    return _make(actor, domain, algorithm, "domain.dkim_rotate")


@transaction.atomic
def dkim_activate(*, actor: Actor, domain: Domain, selector: str) -> DkimKey:
    """Sign with the key of this selector from now on; the key it replaces retires later."""
    domain = _locked(domain)
    key = domain.dkim_keys.filter(selector=selector).first()
    if key is None:
        raise ValidationError({"selector": f"{domain.name} has no DKIM key “{selector}”."})
    if key.state != DkimState.NEXT:
        raise ValidationError({"selector": f"Key {selector} is {key.state}, not waiting."})
    now = timezone.now()
    replaced = list(
        domain.dkim_keys.filter(
            algorithm=key.algorithm, state=DkimState.ACTIVE, retire_after__isnull=True
        )
    )
    for old in replaced:
        old.retire_after = now + RETIRE_GRACE
        old.save(update_fields=["retire_after"])
    key.state = DkimState.ACTIVE
    key.activated_at = now
    key.save(update_fields=["state", "activated_at"])
    domain_bump(domain)
    audit_record(
        actor=actor,
        action="domain.dkim_activate",
        obj=domain,
        organization=domain.organization,
        before={"selector": ", ".join(k.selector for k in replaced)},
        after={"selector": selector, "algorithm": key.algorithm, "state": key.state},
    )
    return key


def dkim_retire_due(*, actor: Actor, now: datetime | None = None) -> int:
    """Retire every replaced key whose grace period is over (the beat task); return how many."""
    now = now or timezone.now()
    due = DkimKey.objects.filter(state=DkimState.ACTIVE, retire_after__lte=now)
    count = 0
    for key_id in due.values_list("id", flat=True):
        count += _retire(actor, key_id, now)
    return count


@transaction.atomic
def _retire(actor: Actor, key_id: int, now: datetime) -> int:
    key = DkimKey.objects.select_for_update().select_related("domain__organization").get(pk=key_id)
    if key.state != DkimState.ACTIVE or key.retire_after is None or key.retire_after > now:
        return 0
    key.state, key.retired_at, key.private_key = DkimState.RETIRED, now, ""
    key.save(update_fields=["state", "retired_at", "private_key"])
    audit_record(
        actor=actor,
        action="domain.dkim_retire",
        obj=key.domain,
        organization=key.domain.organization,
        after={"selector": key.selector, "algorithm": key.algorithm, "state": key.state},
    )
    return 1


def signing_keys(domain: Domain) -> list[DkimKey]:
    """The key each algorithm signs with: its active, not-yet-replaced key (newest first)."""
    keys = domain.dkim_keys.filter(state=DkimState.ACTIVE, retire_after__isnull=True)
    return list(keys.order_by("algorithm", "-activated_at"))


def dkim_records(domain: Domain) -> list[DkimRecord]:
    signing = {k.pk for k in signing_keys(domain)}
    records = []
    for key in domain.dkim_keys.exclude(state=DkimState.RETIRED).order_by("created_at", "id"):
        name = f"{key.selector}._domainkey.{domain.name}"
        value = txt_value(key.algorithm, key.public_key)
        records.append(
            DkimRecord(
                selector=key.selector,
                algorithm=key.algorithm,
                state=key.state,
                signing=key.pk in signing,
                name=name,
                value=value,
                strings=txt_strings(value),
                zone=zone_line(name, value),
                created_at=key.created_at,
                activated_at=key.activated_at,
                retire_after=key.retire_after,
            )
        )
    return records
