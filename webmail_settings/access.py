"""How owner pages reach identities and signatures: always through the owner's own mailbox
(organizations.access.mailbox_of_owner). Another account's identity answers 404 like a missing
one; admins, who own no mailbox, get 404 on every owner page."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from mailboxes.models import Mailbox
from organizations.access import get_domain_for_request, mailbox_of_owner
from webmail_settings.models import Identity, Signature, SignatureTemplate


def owner_mailbox_for_request(request: HttpRequest) -> Mailbox:
    mailbox = mailbox_of_owner(request.user)
    if mailbox is None:
        raise Http404("Only mailbox owners have this page.")
    return mailbox


def get_identity_for_owner(request: HttpRequest, identity_id: int) -> Identity:
    mailbox = owner_mailbox_for_request(request)
    identity = get_object_or_404(Identity.objects.for_mailbox(mailbox), pk=identity_id)
    identity.mailbox = mailbox  # already loaded with its domain and organization
    return identity


def get_signature_for_owner(request: HttpRequest, identity_id: int, signature_id: int) -> Signature:
    identity = get_identity_for_owner(request, identity_id)
    signature = get_object_or_404(identity.signatures.all(), pk=signature_id)
    signature.identity = identity
    return signature


def get_template_for_request(
    request: HttpRequest, domain_id: int, template_id: int, *, write: bool = False
) -> SignatureTemplate:
    """A corporate signature template, through its domain (organizations.access): 404 for
    another tenant's, 403 for a read-only role that changes it."""
    domain = get_domain_for_request(request, domain_id, write=write)
    template = get_object_or_404(SignatureTemplate.objects.for_domain(domain), pk=template_id)
    template.domain = domain
    return template
