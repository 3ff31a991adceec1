from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from organizations.models import Organization, Plan
from security.audit import Actor, audit_record


@transaction.atomic
def organization_create(*, actor: Actor, name: str, plan: Plan | None = None) -> Organization:
    name = (name or "").strip()
    if Organization.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"An organization named “{name}” already exists."})
    organization = Organization(name=name, plan=plan)
    organization.full_clean()
    organization.save()
    audit_record(
        actor=actor,
        action="organization.create",
        obj=organization,
        organization=organization,
        after={"name": name, "plan": plan.name if plan else None},
    )
    return organization
