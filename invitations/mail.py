"""The invitation e-mail, sent through Django's e-mail backend (SMTP in production).

Sent by the view right after the invitation is committed, not by a Celery task: the link's
token exists only in memory (the database keeps its hash), and it should not travel through
the broker either.
"""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from invitations.models import Invitation
from invitations.services import invitation_mark_sent

log = logging.getLogger(__name__)


def accept_url(token: str) -> str:
    return settings.PANEL_BASE_URL.rstrip("/") + reverse("invitation_accept", args=[token])


def send_invitation(invitation: Invitation, token: str) -> bool:
    """Send (or send again) the invitation; False when the mail server refused it."""
    context = {
        "invitation": invitation,
        "url": accept_url(token),
        "organization": invitation.domain.organization.name,
    }
    subject = f"You are invited to use {invitation.address}"
    body = render_to_string("invitations/email.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email])
    except (smtplib.SMTPException, OSError):
        log.warning("invitation %s: the mail server refused it", invitation.pk, exc_info=True)
        return False
    invitation_mark_sent(invitation=invitation)
    return True
