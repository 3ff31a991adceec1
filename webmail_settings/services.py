"""Writes to an account's webmail settings: validated and audited."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from mailboxes.models import Mailbox
from mailboxes.services import mailbox_update
from security.audit import Actor, audit_record
from webmail_settings.models import Identity, Signature, WebmailPreferences
from webmail_settings.sanitize import html_to_text, sanitize_html
from webmail_settings.selectors import new_preferences

# Webmail shows the account's own language and time zone (see WebmailPreferences), so the
# Webmail tab edits those on the Mailbox, through mailbox_update.
ACCOUNT_FIELDS = frozenset({"language", "time_zone"})
PREFERENCE_FIELDS = frozenset({"date_format", "time_format", "address_book_visible"})


@transaction.atomic
def preferences_update(
    *, actor: Actor, mailbox: Mailbox, changes: dict[str, Any]
) -> WebmailPreferences:
    """Change an account's webmail settings; language and time zone are the account's own."""
    unknown = set(changes) - ACCOUNT_FIELDS - PREFERENCE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    account = {f: v for f, v in changes.items() if f in ACCOUNT_FIELDS}
    if account:
        mailbox_update(actor=actor, mailbox=mailbox, changes=account)

    preferences, _ = WebmailPreferences.objects.select_for_update().get_or_create(
        mailbox=mailbox,
        # Until now the account followed its domain's defaults: the row starts from them, so
        # saving one setting never changes the others (see webmail_settings.addressbook).
        defaults={f: getattr(new_preferences(mailbox), f) for f in PREFERENCE_FIELDS},
    )
    preferences.mailbox = mailbox  # already loaded: the audit row names it without a query
    changed = {
        f: v for f, v in changes.items() if f in PREFERENCE_FIELDS and getattr(preferences, f) != v
    }
    if not changed:
        return preferences
    before = {f: getattr(preferences, f) for f in changed}
    for field, value in changed.items():
        setattr(preferences, field, value)
    preferences.full_clean()
    preferences.save(update_fields=list(changed))
    # No provisioning: these preferences are read by webmail front ends, not by the mail
    # servers, so the account does not turn Updating for them.
    audit_record(
        actor=actor,
        action="webmail_preferences.update",
        obj=preferences,
        organization=mailbox.domain.organization,
        mailbox=mailbox,
        before=before,
        after=changed,
    )
    return preferences


# --- identities and signatures --------------------------------------------------------------


def sender_addresses(mailbox: Mailbox) -> list[str]:
    """The From addresses an identity of this account may use. Only the account's own address
    for now: the panel has no aliases yet; when it does, the aliases owned by the account go
    here and every identity check follows."""
    return [mailbox.address]


def _audit(
    actor: Actor,
    action: str,
    obj: Identity | Signature,
    mailbox: Mailbox,
    **values: dict[str, Any] | None,
) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=obj,
        organization=mailbox.domain.organization,
        mailbox=mailbox,
        **values,
    )


# Corporate signatures the domain admin locked: the owner uses them, only the template changes
# them (webmail_settings.corporate_services). Refused here, whatever page or client asks.
LOCKED = "This is a corporate signature your administrator manages: you can use it, not change it."


def _refuse_locked(signature: Signature) -> None:
    if signature.locked:
        raise ValidationError(LOCKED)


def _check_address(mailbox: Mailbox, address: str) -> str:
    address = address.strip().lower()
    if address not in sender_addresses(mailbox):
        raise ValidationError({"address": "You can only send as your own address."})
    return address


@transaction.atomic
def identity_create(*, actor: Actor, mailbox: Mailbox, display_name: str, address: str) -> Identity:
    identity = Identity(
        mailbox=mailbox,
        display_name=display_name.strip(),
        address=_check_address(mailbox, address),
    )
    identity.full_clean()
    identity.save()
    after = {"display_name": identity.display_name, "address": identity.address}
    _audit(actor, "identity.create", identity, mailbox, after=after)
    return identity


@transaction.atomic
def identity_update(
    *, actor: Actor, identity: Identity, display_name: str, address: str
) -> Identity:
    mailbox = identity.mailbox
    new = {"display_name": display_name.strip(), "address": _check_address(mailbox, address)}
    changed = {f: v for f, v in new.items() if getattr(identity, f) != v}
    if not changed:
        return identity
    before = {f: getattr(identity, f) for f in changed}
    for field, value in changed.items():
        setattr(identity, field, value)
    identity.full_clean()
    identity.save(update_fields=list(changed))
    _audit(actor, "identity.update", identity, mailbox, before=before, after=changed)
    return identity


@transaction.atomic
def identity_delete(*, actor: Actor, identity: Identity) -> None:
    """Deletes the identity with its signatures (not one that carries a locked one)."""
    if identity.signatures.filter(locked=True).exists():
        raise ValidationError(
            "This identity carries a corporate signature your administrator manages: "
            "it cannot be deleted."
        )
    before = {"display_name": identity.display_name, "address": identity.address}
    _audit(actor, "identity.delete", identity, identity.mailbox, before=before)
    identity.delete()


def _signature_values(
    *, name: str, html: str, text: str, is_default: bool, bcc_sender: bool
) -> dict[str, Any]:
    clean_html = sanitize_html(html)
    return {
        "name": name.strip(),
        "html": clean_html,
        "text": text.strip() or html_to_text(clean_html),
        "is_default": is_default,
        "bcc_sender": bcc_sender,
    }


def _clear_other_defaults(identity: Identity, keep: Signature | None) -> None:
    # One default per identity (a database constraint): the new default takes the flag.
    others = Signature.objects.filter(identity=identity, is_default=True)
    if keep is not None and keep.pk:
        others = others.exclude(pk=keep.pk)
    others.update(is_default=False)


@transaction.atomic
def signature_create(
    *, actor: Actor, identity: Identity, name: str, html: str = "", text: str = "",
    is_default: bool = False, bcc_sender: bool = False,
) -> Signature:  # fmt: skip
    """A new signature; its HTML is stored sanitised, an empty text derived from the HTML."""
    values = _signature_values(
        name=name, html=html, text=text, is_default=is_default, bcc_sender=bcc_sender
    )
    signature = Signature(identity=identity, **values)
    if signature.is_default:  # first: full_clean checks the one-default constraint
        _clear_other_defaults(identity, keep=None)
    signature.full_clean()
    signature.save()
    after = {f: v for f, v in values.items() if f != "text"}
    _audit(actor, "signature.create", signature, identity.mailbox, after=after)
    return signature


@transaction.atomic
def signature_update(
    *, actor: Actor, signature: Signature, name: str, html: str = "", text: str = "",
    is_default: bool = False, bcc_sender: bool = False,
) -> Signature:  # fmt: skip
    _refuse_locked(signature)
    values = _signature_values(
        name=name, html=html, text=text, is_default=is_default, bcc_sender=bcc_sender
    )
    changed = {f: v for f, v in values.items() if getattr(signature, f) != v}
    if not changed:
        return signature
    before = {f: getattr(signature, f) for f in changed}
    for field, value in changed.items():
        setattr(signature, field, value)
    if signature.is_default:  # first: full_clean checks the one-default constraint
        _clear_other_defaults(signature.identity, keep=signature)
    signature.full_clean()
    signature.save(update_fields=list(changed))
    _audit(actor, "signature.update", signature, signature.identity.mailbox, before=before,
           after=changed)  # fmt: skip
    return signature


@transaction.atomic
def signature_set_default(*, actor: Actor, signature: Signature) -> Signature:
    if signature.is_default:
        return signature
    _clear_other_defaults(signature.identity, keep=signature)
    signature.is_default = True
    signature.save(update_fields=["is_default"])
    _audit(actor, "signature.set_default", signature, signature.identity.mailbox,
           before={"is_default": False}, after={"is_default": True})  # fmt: skip
    return signature


@transaction.atomic
def signature_delete(*, actor: Actor, signature: Signature) -> None:
    _refuse_locked(signature)
    _audit(actor, "signature.delete", signature, signature.identity.mailbox,
           before={"name": signature.name})  # fmt: skip
    signature.delete()
