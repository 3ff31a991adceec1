"""The private Postfix + Dovecot of a mail node's state folder (see controller.py)."""

from provisioning.mailstack.controller import PORT_NAMES, MailStack, MailStackError

__all__ = ["PORT_NAMES", "MailStack", "MailStackError"]
