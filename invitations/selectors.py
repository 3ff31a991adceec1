from __future__ import annotations

from invitations.models import Invitation
from invitations.tokens import token_hash, token_matches


def invitation_by_token(token: str) -> Invitation | None:
    """The invitation a link names (in any state), or None for a token nobody issued."""
    if not token or len(token) > 200:
        return None
    digest = token_hash(token)
    invitation = (
        Invitation.objects.select_related("domain", "domain__organization")
        .filter(token_hash=digest)
        .first()
    )
    if invitation is None or not token_matches(token, invitation.token_hash):
        return None
    return invitation
