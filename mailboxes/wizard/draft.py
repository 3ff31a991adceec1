"""The draft a wizard run keeps in the session, under its own token."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from domains.models import Domain
from mailboxes.passwords import generate_password

# --- the draft in the session ------------------------------------------------------------

DRAFTS_KEY = "mailbox_wizard"
DONE_KEY = "mailbox_wizard_done"
DRAFT_LIFETIME = timedelta(hours=2)
MAX_DRAFTS = 5
MAX_DONE = 20


class Draft:
    """A wizard run: a dict in the session under its token, wrapped for readable access."""

    def __init__(self, session: SessionBase, token: str, data: dict[str, Any]) -> None:
        self.session = session
        self.token = token
        self.data = data

    @classmethod
    def start(cls, session: SessionBase, domain: Domain) -> Draft:
        drafts = _live_drafts(session)
        # Keep the newest few: each holds a password until it is confirmed or cancelled.
        for token in sorted(drafts, key=lambda t: drafts[t]["started_at"])[: -MAX_DRAFTS + 1]:
            del drafts[token]
        token = str(uuid.uuid4())
        drafts[token] = {
            "domain_id": domain.pk,
            "started_at": timezone.now().isoformat(),
            "reached": 0,
            "steps": {},
            "password": "",
            "password_generated": False,
            "reveal_password": False,
            "errors": {},
        }
        session[DRAFTS_KEY] = drafts
        return cls(session, token, drafts[token])

    @classmethod
    def load(cls, session: SessionBase, token: str, domain: Domain) -> Draft | None:
        drafts = _live_drafts(session)
        if len(drafts) != len(session.get(DRAFTS_KEY, {})):
            session[DRAFTS_KEY] = drafts
        data = drafts.get(token)
        if data is None or data["domain_id"] != domain.pk:
            return None
        return cls(session, token, data)

    def save(self) -> None:
        self.session.modified = True

    def discard(self) -> None:
        """Drop the draft, and the password with it (on completion or cancel)."""
        drafts = self.session.get(DRAFTS_KEY, {})
        drafts.pop(self.token, None)
        self.session[DRAFTS_KEY] = drafts

    def restore(self) -> None:
        """Put a discarded draft back (when confirm failed)."""
        drafts = self.session.get(DRAFTS_KEY, {})
        drafts[self.token] = self.data
        self.session[DRAFTS_KEY] = drafts

    # -- steps

    @property
    def reached(self) -> int:
        return int(self.data["reached"])

    def reach(self, index: int) -> None:
        self.data["reached"] = max(self.reached, index)
        self.save()

    def values(self, slug: str) -> dict[str, Any] | None:
        return self.data["steps"].get(slug)

    def set_values(self, slug: str, values: dict[str, Any]) -> None:
        self.data["steps"][slug] = values
        self.save()

    def set_errors(self, slug: str, errors: dict[str, list[str]]) -> None:
        self.data["errors"][slug] = errors
        self.save()

    def pop_errors(self, slug: str) -> dict[str, list[str]] | None:
        errors = self.data["errors"].pop(slug, None)
        if errors is not None:
            self.save()
        return errors

    # -- password

    @property
    def password(self) -> str:
        return str(self.data["password"])

    @property
    def password_generated(self) -> bool:
        return bool(self.data["password_generated"])

    def set_password(self, password: str, *, generated: bool) -> None:
        self.data.update(password=password, password_generated=generated, reveal_password=generated)
        self.save()

    def generate_password(self, min_length: int) -> None:
        self.set_password(generate_password(max(16, min_length)), generated=True)

    def take_password_to_reveal(self) -> str:
        """The generated password, once: the step page shows it a single time."""
        if not self.data["reveal_password"]:
            return ""
        self.data["reveal_password"] = False
        self.save()
        return self.password


def _live_drafts(session: SessionBase) -> dict[str, dict[str, Any]]:
    """The session's drafts, without the abandoned ones (and their passwords)."""
    oldest = timezone.now() - DRAFT_LIFETIME
    drafts = session.get(DRAFTS_KEY, {})
    return {
        token: draft
        for token, draft in drafts.items()
        if (started := parse_datetime(draft.get("started_at", ""))) and started > oldest
    }


def remember_created(session: SessionBase, token: str, mailbox_id: int) -> None:
    done = session.get(DONE_KEY, {})
    done[token] = mailbox_id
    session[DONE_KEY] = dict(list(done.items())[-MAX_DONE:])


def created_mailbox_id(session: SessionBase, token: str) -> int | None:
    return session.get(DONE_KEY, {}).get(token)
