from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from domains.models import Domain
from domains.validators import normalize_domain_name
from organizations.models import Organization
from provisioning.models import MailNode
from provisioning.services import default_node, domain_bump
from security.audit import Actor, audit_record


@transaction.atomic
def domain_create(
    *, actor: Actor, name: str, organization: Organization, node: MailNode | None = None
) -> Domain:
    try:
        ascii_name = normalize_domain_name(name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
    if Domain.objects.filter(name=ascii_name).exists():
        raise ValidationError({"name": f"The domain {ascii_name} already exists."})
    domain = Domain(name=ascii_name, organization=organization, node=node or default_node())
    domain.full_clean()
    domain.save()
    domain_bump(domain)
    audit_record(
        actor=actor,
        action="domain.create",
        obj=domain,
        organization=organization,
        after={"name": ascii_name, "node": domain.node.name},
    )
    return domain
