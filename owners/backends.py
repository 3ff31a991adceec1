"""Mailbox owners log in to the panel with their address and mailbox password."""

from __future__ import annotations

import functools
import ipaddress
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from mailboxes.models import Mailbox, MailboxKind, MailboxState
from mailboxes.passwords import hash_password, verify_password
from mailboxes.selectors import mailbox_by_address
from owners.models import Owner
from tempusmail.client_ip import client_ip


@functools.cache
def _dummy_hash() -> str:
    # Verified when the address is unknown, so a wrong address costs as long as a wrong
    # password: the response time must not tell which addresses exist.
    return hash_password(secrets.token_urlsafe(16))


def _allowed_from(mailbox: Mailbox, request: HttpRequest | None) -> bool:
    if not mailbox.allowed_networks:
        return True
    try:
        client = ipaddress.ip_address(client_ip(request) or "")
    except ValueError:
        return False
    networks = (ipaddress.ip_network(net, strict=False) for net in mailbox.allowed_networks)
    return any(client in network for network in networks)


def may_log_in(mailbox: Mailbox, request: HttpRequest | None) -> bool:
    """State, kind and the account's IP restrictions: the same rules as the mail servers'.
    (An expired password still logs in to the panel: it is where the owner changes it.)"""
    return (
        mailbox.state == MailboxState.ACTIVE
        and mailbox.kind == MailboxKind.PERSON
        and mailbox.domain.is_active
        and _allowed_from(mailbox, request)
    )


class MailboxOwnerBackend(BaseBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        # Admins log in with a user name (the default backend); an address means an owner.
        if not username or "@" not in username or password is None:
            return None
        try:
            mailbox = mailbox_by_address(username)
        except ValidationError:
            verify_password(password, _dummy_hash())
            return None
        if not verify_password(password, mailbox.password_hash):
            return None
        if not may_log_in(mailbox, request):
            return None
        return _user_for(mailbox)

    def get_user(self, user_id):
        return get_user_model().objects.filter(pk=user_id, is_active=True).first()


@transaction.atomic
def _user_for(mailbox: Mailbox):
    owner = Owner.objects.select_related("user").filter(mailbox=mailbox).first()
    if owner is not None:
        return owner.user if owner.user.is_active else None
    user = get_user_model().objects.create_user(username=f"mailbox-{mailbox.pk}", password=None)
    Owner.objects.create(user=user, mailbox=mailbox)
    return user
