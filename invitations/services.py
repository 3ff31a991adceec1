"""Every write to an invitation: created, sent, resent, revoked, accepted. Audited.

The raw token exists only in the return value of create/resend (for the e-mail); the
database keeps its hash. Accepting claims the invitation with a conditional UPDATE inside the
transaction that creates the mailbox, so a link is used at most once even when clicked twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from domains.models import Domain
from invitations.models import Invitation, InvitationState
from invitations.tokens import new_token
from mailboxes.models import Mailbox, MailboxKind
from mailboxes.services import mailbox_create
from mailboxes.validators import normalize_local_part
from security.audit import Actor, audit_record
from webmail_settings.corporate_services import contact_details_update

MAX_INVITEES = 20


@dataclass(frozen=True)
class Invitee:
    email: str
    user: User | None = None


def _expiry() -> Any:
    return timezone.now() + timedelta(days=settings.INVITATION_EXPIRY_DAYS)


def _audit(actor: Actor, action: str, invitation: Invitation, **after: Any) -> None:
    # On the domain's audit page (the invitation itself has no page of its own).
    audit_record(
        actor=actor, action=action, obj=invitation.domain,
        organization=invitation.domain.organization,
        after={"invitation": invitation.pk, "address": invitation.address,
               "invitee": invitation.email, **after},
    )  # fmt: skip


def check_new_address(domain: Domain, local_part: str) -> str:
    """The normalised local part of an address that can still be created on the domain."""
    try:
        local_part = normalize_local_part(local_part)
    except ValidationError as exc:
        raise ValidationError({"local_part": exc.messages}) from exc
    if not domain.is_active:
        raise ValidationError({"local_part": f"The domain {domain.name} is not active."})
    if Mailbox.objects.filter(domain=domain, local_part=local_part).exists():
        raise ValidationError({"local_part": f"{local_part}@{domain.name} already exists."})
    return local_part


@transaction.atomic
def invitation_create(
    *,
    actor: Actor,
    domain: Domain,
    local_part: str,
    invitees: list[Invitee],
    may_change_password: bool = True,
    may_forward: bool = True,
) -> list[tuple[Invitation, str]]:
    """One invitation per invitee to the same new address; the first to accept owns it."""
    local_part = check_new_address(domain, local_part)
    if not invitees:
        raise ValidationError({"invitees": "Invite at least one person."})
    if len(invitees) > MAX_INVITEES:
        raise ValidationError({"invitees": f"Invite at most {MAX_INVITEES} people at once."})
    created = []
    for invitee in invitees:
        try:
            validate_email(invitee.email)
        except ValidationError as exc:
            raise ValidationError({"invitees": f"{invitee.email}: not an e-mail address."}) from exc
        token, digest = new_token()
        invitation = Invitation(
            domain=domain, local_part=local_part, invited_user=invitee.user,
            email=invitee.email.strip().lower(), token_hash=digest,
            may_change_password=may_change_password, may_forward=may_forward,
            expires_at=_expiry(), created_by=actor.saved_user,
        )  # fmt: skip
        invitation.full_clean()
        invitation.save()
        _audit(actor, "invitation.create", invitation,
               may_change_password=may_change_password, may_forward=may_forward)  # fmt: skip
        created.append((invitation, token))
    return created


def invitation_mark_sent(*, invitation: Invitation) -> None:
    Invitation.objects.filter(pk=invitation.pk).update(
        sent_at=timezone.now(), send_count=invitation.send_count + 1
    )


@transaction.atomic
def invitation_resend(*, actor: Actor, invitation: Invitation) -> str:
    """A new link with a new expiry; the old link stops working. Returns the new token."""
    if invitation.state != InvitationState.PENDING:
        raise ValidationError(f"This invitation is {invitation.get_state_display().lower()}.")
    token, digest = new_token()
    invitation.token_hash = digest
    invitation.expires_at = _expiry()
    invitation.save(update_fields=["token_hash", "expires_at"])
    _audit(actor, "invitation.resend", invitation, expires_at=invitation.expires_at.isoformat())
    return token


@transaction.atomic
def invitation_revoke(*, actor: Actor, invitation: Invitation) -> Invitation:
    if invitation.state != InvitationState.PENDING:
        raise ValidationError(f"This invitation is {invitation.get_state_display().lower()}.")
    invitation.state = InvitationState.REVOKED
    invitation.save(update_fields=["state"])
    _audit(actor, "invitation.revoke", invitation)
    return invitation


@transaction.atomic
def invitation_accept(
    *,
    actor: Actor,
    invitation: Invitation,
    first_name: str,
    last_name: str,
    phone: str,
    password: str,
) -> Mailbox:
    """Create the address with the invitation's permissions, owned by the invitee.

    Raises ValidationError (nothing created) when the link has been used, revoked or has
    expired meanwhile, or when the address or the password is refused.
    """
    claimed = Invitation.objects.filter(
        pk=invitation.pk, state=InvitationState.PENDING, expires_at__gt=timezone.now()
    ).update(state=InvitationState.ACCEPTED, accepted_at=timezone.now())
    if claimed != 1:
        raise ValidationError(LINK_UNUSABLE)
    mailbox = mailbox_create(
        actor=actor, domain=invitation.domain, local_part=invitation.local_part,
        password=password, first_name=first_name, last_name=last_name, kind=MailboxKind.PERSON,
        settings={"owner_may_change_password": invitation.may_change_password,
                  "owner_may_forward": invitation.may_forward},
    )  # fmt: skip
    if phone.strip():
        contact_details_update(actor=actor, mailbox=mailbox, changes={"phone": phone})
    Invitation.objects.filter(pk=invitation.pk).update(mailbox=mailbox)
    audit_record(
        actor=actor, action="invitation.accept", obj=mailbox,
        organization=invitation.domain.organization,
        after={"invitation": invitation.pk, "invitee": invitation.email},
    )  # fmt: skip
    # The address has its owner now: the other invitees' links for it stop working.
    others = Invitation.objects.filter(
        domain=invitation.domain, local_part=invitation.local_part, state=InvitationState.PENDING
    ).select_related("domain__organization")
    for other in others:
        invitation_revoke(actor=actor, invitation=other)
    return mailbox


LINK_UNUSABLE = (
    "This invitation link has expired, was revoked or has already been used: nothing was "
    "created. Ask the person who invited you for a new invitation."
)
