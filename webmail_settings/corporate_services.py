"""Writes for corporate signatures: a domain admin's templates, the accounts' contact details,
and the Signature each chosen account gets on its default identity.

Kept apart from webmail_settings.services (the owner's own writes) so that neither passes a
few hundred lines. Rendering is synchronous, in the template's transaction: 1,000 accounts
take about half a second on SQLite (benchmarks/corporate_signatures.py), so a Celery task
would only add a window in which the template and the accounts disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q, QuerySet

from domains.models import Domain
from mailboxes.models import Mailbox
from security.audit import Actor, audit_record
from webmail_settings.corporate import placeholder_values, render, unknown_placeholders
from webmail_settings.models import ContactDetails, Identity, Signature, SignatureTemplate
from webmail_settings.sanitize import sanitize_html

CONTACT_FIELDS = ("title", "department", "phone", "address")
TEMPLATE_FIELDS = ("name", "html", "text", "all_accounts", "owners_may_edit")


def _contact_of(mailbox: Mailbox) -> ContactDetails | None:
    try:
        return mailbox.contact_details
    except ContactDetails.DoesNotExist:
        return None


# --- contact details ---------------------------------------------------------------------------


@transaction.atomic
def contact_details_update(
    *, actor: Actor, mailbox: Mailbox, changes: dict[str, Any]
) -> ContactDetails:
    """Change an account's title, department, phone or postal address; its corporate
    signatures follow at once."""
    unknown = set(changes) - set(CONTACT_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    contact, _ = ContactDetails.objects.select_for_update().get_or_create(mailbox=mailbox)
    contact.mailbox = mailbox
    changed = {f: v.strip() for f, v in changes.items() if getattr(contact, f) != v.strip()}
    if not changed:
        return contact
    before = {f: getattr(contact, f) for f in changed}
    for field, value in changed.items():
        setattr(contact, field, value)
    contact.full_clean()
    contact.save(update_fields=list(changed))
    audit_record(
        actor=actor, action="contact_details.update", obj=contact,
        organization=mailbox.domain.organization, mailbox=mailbox, before=before, after=changed,
    )  # fmt: skip
    mailbox.contact_details = contact
    for signature in Signature.objects.filter(identity__mailbox=mailbox, template__isnull=False):
        template = signature.template
        if template is None:  # filtered out above
            continue
        _fill(signature, template, mailbox)
        signature.save(update_fields=["name", "html", "text", "locked"])
    return contact


# --- templates -------------------------------------------------------------------------------


def _clean_template(
    *, domain: Domain, name: str, html: str, text: str, accounts: Iterable[Mailbox],
    all_accounts: bool,
) -> tuple[dict[str, Any], list[Mailbox]]:  # fmt: skip
    errors: dict[str, str] = {}
    for field, value in (("html", html), ("text", text)):
        unknown = unknown_placeholders(value)
        if unknown:
            errors[field] = "Unknown placeholder " + ", ".join(f"{{{p}}}" for p in unknown) + "."
    chosen = list(accounts)
    if any(mailbox.domain_id != domain.pk for mailbox in chosen):
        errors["accounts"] = "Choose accounts of this domain only."
    if not all_accounts and not chosen:
        errors["accounts"] = "Choose at least one account, or every account of the domain."
    if errors:
        raise ValidationError(errors)
    values = {"name": name.strip(), "html": sanitize_html(html), "text": text.strip()}
    return values, chosen


@transaction.atomic
def signature_template_create(
    *, actor: Actor, domain: Domain, name: str, html: str, text: str = "",
    all_accounts: bool = True, accounts: Iterable[Mailbox] = (), owners_may_edit: bool = False,
) -> SignatureTemplate:  # fmt: skip
    values, chosen = _clean_template(
        domain=domain, name=name, html=html, text=text, accounts=accounts,
        all_accounts=all_accounts,
    )  # fmt: skip
    template = SignatureTemplate(
        domain=domain, all_accounts=all_accounts, owners_may_edit=owners_may_edit, **values
    )
    template.full_clean()
    template.save()
    template.accounts.set([] if all_accounts else chosen)
    counts = _apply(actor=actor, template=template)
    after = {f: getattr(template, f) for f in TEMPLATE_FIELDS if f != "text"}
    _audit(actor, "signature_template.create", template, after={**after, **counts})
    return template


@transaction.atomic
def signature_template_update(
    *, actor: Actor, template: SignatureTemplate, name: str, html: str, text: str = "",
    all_accounts: bool = True, accounts: Iterable[Mailbox] = (), owners_may_edit: bool = False,
) -> SignatureTemplate:  # fmt: skip
    """Change a template: every chosen account's signature is rendered again, accounts no
    longer chosen lose theirs, newly chosen ones get it."""
    template = SignatureTemplate.objects.select_for_update().get(pk=template.pk)
    values, chosen = _clean_template(
        domain=template.domain, name=name, html=html, text=text, accounts=accounts,
        all_accounts=all_accounts,
    )  # fmt: skip
    values.update(all_accounts=all_accounts, owners_may_edit=owners_may_edit)
    before = {f: getattr(template, f) for f in TEMPLATE_FIELDS if f != "text"}
    for field, value in values.items():
        setattr(template, field, value)
    template.full_clean()
    template.save()
    template.accounts.set([] if all_accounts else chosen)
    counts = _apply(actor=actor, template=template)
    after = {f: getattr(template, f) for f in TEMPLATE_FIELDS if f != "text"}
    _audit(actor, "signature_template.update", template, before=before, after={**after, **counts})
    return template


@transaction.atomic
def signature_template_delete(*, actor: Actor, template: SignatureTemplate) -> None:
    """Deletes the template and every account's signature made from it."""
    removed = _remove(actor, Signature.objects.filter(template=template))
    _audit(actor, "signature_template.delete", template,
           before={"name": template.name, "removed": removed})  # fmt: skip
    template.delete()


def signature_template_apply_to_account(*, actor: Actor, mailbox: Mailbox) -> None:
    """Brings one account's corporate signatures in line: a new account gets its domain's
    every-account templates, a renamed one its copies filled again (mailboxes.signals)."""
    for template in _templates_of(mailbox, new=False):
        _apply(actor=actor, template=template, account=mailbox)


def _templates_of(mailbox: Mailbox, *, new: bool) -> list[SignatureTemplate]:
    templates = SignatureTemplate.objects.for_domain(mailbox.domain)
    if new:  # nothing can have chosen it yet: only the every-account templates
        return list(templates.filter(all_accounts=True))
    return list(
        templates.filter(
            Q(all_accounts=True) | Q(accounts=mailbox) | Q(signatures__identity__mailbox=mailbox)
        ).distinct()
    )


# What corporate signatures are filled with, of the account itself (contact details have
# their own service).
_NAME_FIELDS = {"first_name", "last_name"}


def follow_account(
    sender: object,
    *,
    mailbox: Mailbox,
    actor: Actor,
    created: bool,
    changed: set[str],
    **_: object,
) -> None:
    """mailboxes.signals.account_saved: a new account gets the every-account templates, a
    renamed one its copies filled with the new name."""
    if created:
        for template in _templates_of(mailbox, new=True):
            _apply(actor=actor, template=template, account=mailbox)
    elif changed & _NAME_FIELDS:
        signature_template_apply_to_account(actor=actor, mailbox=mailbox)


def _audit(
    actor: Actor,
    action: str,
    template: SignatureTemplate,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    audit_record(
        actor=actor, action=action, obj=template,
        organization=template.domain.organization, before=before, after=after,
    )  # fmt: skip


# --- rendering into the accounts ----------------------------------------------------------------


def _targets(template: SignatureTemplate, account: Mailbox | None) -> list[Mailbox]:
    chosen = (
        Mailbox.objects.filter(domain=template.domain)
        if template.all_accounts
        else template.accounts.all()
    )
    if account is not None:
        chosen = chosen.filter(pk=account.pk)
    return list(chosen.select_related("contact_details", "domain__organization").order_by("pk"))


def _fill(signature: Signature, template: SignatureTemplate, mailbox: Mailbox) -> None:
    rendered = render(
        template.html, template.text, placeholder_values(mailbox, _contact_of(mailbox))
    )
    signature.name = template.name
    signature.html = rendered.html
    signature.text = rendered.text
    signature.locked = not template.owners_may_edit


def _remove(actor: Actor, signatures: QuerySet[Signature]) -> int:
    doomed = list(signatures.select_related("identity__mailbox__domain__organization"))
    for signature in doomed:
        mailbox = signature.identity.mailbox
        audit_record(
            actor=actor, action="signature.corporate_remove", obj=signature,
            organization=mailbox.domain.organization, mailbox=mailbox,
            before={"name": signature.name},
        )  # fmt: skip
    Signature.objects.filter(pk__in=[s.pk for s in doomed]).delete()
    return len(doomed)


def _full_name(mailbox: Mailbox) -> str:
    return f"{mailbox.first_name} {mailbox.last_name}".strip()


def _default_identities(mailboxes: list[Mailbox]) -> dict[int, Identity]:
    """Each account's default identity: its first one on its own address, made if missing."""
    by_id = {m.pk: m for m in mailboxes}
    found: dict[int, Identity] = {}
    for identity in Identity.objects.filter(mailbox__in=mailboxes).order_by("pk"):
        if identity.address == by_id[identity.mailbox_id].address:
            found.setdefault(identity.mailbox_id, identity)
    # Two names of 150 characters each do not fit the display name's 150: cut, never fail.
    room = Identity._meta.get_field("display_name").max_length
    missing = [
        Identity(mailbox=m, display_name=_full_name(m)[:room], address=m.address)
        for m in mailboxes
        if m.pk not in found
    ]
    for identity in Identity.objects.bulk_create(missing):
        found[identity.mailbox_id] = identity
    return found


def _save_rendered(signatures: list[Signature]) -> None:
    """One parameterised UPDATE run for every row: bulk_update's CASE WHEN expressions made a
    1,000-account re-render take over a second (benchmarks/corporate_signatures.py)."""
    if not signatures:
        return
    quote = connection.ops.quote_name
    columns = ", ".join(f"{quote(c)} = %s" for c in ("name", "html", "text", "locked"))
    with connection.cursor() as cursor:
        cursor.executemany(
            # Only quoted identifiers of our own model go into the text; values are parameters.
            f"UPDATE {quote(Signature._meta.db_table)} SET {columns} WHERE {quote('id')} = %s",  # noqa: S608
            [(s.name, s.html, s.text, s.locked, s.pk) for s in signatures],
        )


def _apply(
    *, actor: Actor, template: SignatureTemplate, account: Mailbox | None = None
) -> dict[str, int]:
    """Bring every account's copy of the template (or only `account`'s) in line with it;
    returns what changed."""
    targets = _targets(template, account)
    target_ids = {m.pk for m in targets}
    copies = Signature.objects.filter(template=template)
    if account is not None:
        copies = copies.filter(identity__mailbox=account)
    existing = {s.identity.mailbox_id: s for s in copies.select_related("identity")}
    removed = _remove(actor, copies.exclude(identity__mailbox_id__in=target_ids))
    identities = _default_identities([m for m in targets if m.pk not in existing])
    with_default = set(
        Signature.objects.filter(identity__in=identities.values(), is_default=True).values_list(
            "identity_id", flat=True
        )
    )
    created, updated = [], []
    for mailbox in targets:
        signature = existing.get(mailbox.pk)
        if signature is None:
            identity = identities[mailbox.pk]
            signature = Signature(
                identity=identity, template=template, is_default=identity.pk not in with_default
            )
            created.append((signature, mailbox))
            _fill(signature, template, mailbox)
        else:
            before = (signature.name, signature.html, signature.text, signature.locked)
            _fill(signature, template, mailbox)
            if (signature.name, signature.html, signature.text, signature.locked) != before:
                updated.append(signature)
    Signature.objects.bulk_create([s for s, _ in created])
    _save_rendered(updated)
    for signature, mailbox in created:
        audit_record(
            actor=actor, action="signature.corporate_add", obj=signature,
            organization=mailbox.domain.organization, mailbox=mailbox,
            after={"name": signature.name, "identity": signature.identity.address},
        )  # fmt: skip
    return {"added": len(created), "changed": len(updated), "removed": removed}
