"""A domain's inbound spam scores (issue 15): junk from, reject from (rspamd on its node)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from domains.models import Domain
from provisioning.services import domain_bump
from security.audit import Actor, audit_record

MAX_SCORE = Decimal(1000)


def _score(field: str, value: object) -> Decimal:
    try:
        score = Decimal(str(value)).quantize(Decimal("0.1"))
    except InvalidOperation:
        raise ValidationError({field: f"“{value}” is not a number."}) from None
    if not Decimal(0) < score <= MAX_SCORE:
        raise ValidationError({field: "Choose a score above 0 and at most 1000."})
    return score


@transaction.atomic
def domain_set_spam_scores(*, actor: Actor, domain: Domain, junk: object, reject: object) -> Domain:
    junk_score, reject_score = _score("spam_junk_score", junk), _score("spam_reject_score", reject)
    if junk_score > reject_score:
        raise ValidationError(
            {"spam_junk_score": "The junk score cannot be above the reject score."}
        )
    domain = Domain.objects.select_for_update().select_related("organization").get(pk=domain.pk)
    before = {"spam_junk_score": str(domain.spam_junk_score),
              "spam_reject_score": str(domain.spam_reject_score)}  # fmt: skip
    domain.spam_junk_score, domain.spam_reject_score = junk_score, reject_score
    domain.save(update_fields=["spam_junk_score", "spam_reject_score"])
    domain_bump(domain)
    audit_record(
        actor=actor,
        action="domain.spam_scores",
        obj=domain,
        organization=domain.organization,
        before=before,
        after={"spam_junk_score": str(junk_score), "spam_reject_score": str(reject_score)},
    )
    return domain
