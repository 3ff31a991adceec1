"""Pure renderers of a domain's rspamd files (issue 15): DKIM signing keys and the selector map
for rspamd's dkim_signing module, and the line of the spam scores map.

rspamd reads the selector map (a node-wide "domain selector" map, assembled from one fragment
per domain like the Postfix maps) and then the key at path = "<dkim dir>/$domain.$selector.key".
Both are read while signing (the map is watched and re-read when it changes; keys are loaded
per message and cached by file modification time), so a new key or a switched selector needs
no rspamd reload. A domain without a line in the map is sent unsigned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from provisioning.node.state import DkimSigning

_SELECTOR = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PEM = re.compile(
    r"^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]{40,4000}-----END PRIVATE KEY-----\n?$"
)
# rspamd's selector map holds one selector per domain: RSA where the domain has one (every
# receiver verifies it), else Ed25519.
PREFERENCE = ("rsa", "ed25519")


class DkimRenderError(ValueError):
    """A DKIM value would be unsafe to write."""


@dataclass(frozen=True)
class RenderedDkim:
    keys: dict[str, str]  # file name in the dkim folder -> PEM
    selector_line: str  # this domain's line of the selector map ("" when it signs nothing)


def key_file_name(domain: str, selector: str) -> str:
    return f"{domain}.{selector}.key"


def is_key_file_of(domain: str, file_name: str) -> bool:
    """Whether file_name is one of domain's key files (a.com's, not a.com.b's)."""
    prefix = f"{domain}."
    if not (file_name.startswith(prefix) and file_name.endswith(".key")):
        return False
    return "." not in file_name[len(prefix) : -len(".key")]


def render_dkim(domain: str, keys: tuple[DkimSigning, ...]) -> RenderedDkim:
    """domain is already checked by render.py's strict pattern."""
    files = {}
    chosen: DkimSigning | None = None
    for key in keys:
        if key.algorithm not in PREFERENCE:
            raise DkimRenderError(f"unknown DKIM algorithm {key.algorithm!r} for {domain}")
        if not _SELECTOR.match(key.selector):
            raise DkimRenderError(f"unsafe DKIM selector {key.selector!r} for {domain}")
        if not _PEM.match(key.private_key):
            raise DkimRenderError(f"DKIM key {key.selector} of {domain} is not a PKCS#8 PEM key")
        files[key_file_name(domain, key.selector)] = key.private_key
        if chosen is None or PREFERENCE.index(key.algorithm) < PREFERENCE.index(chosen.algorithm):
            chosen = key
    line = f"{domain} {chosen.selector}\n" if chosen else ""
    return RenderedDkim(keys=files, selector_line=line)


MAX_SPAM_SCORE = 1000.0


def spam_scores_line(domain: str, junk: float, reject: float) -> str:
    """The domain's line of the spam scores map that rspamd.local.lua reads."""
    if not (isinstance(junk, float) and isinstance(reject, float)):
        raise DkimRenderError(f"spam scores of {domain} are not numbers")
    if not 0 < junk <= reject <= MAX_SPAM_SCORE:
        raise DkimRenderError(f"spam scores of {domain}: need 0 < junk <= reject <= 1000")
    return f"{domain} {junk:g}:{reject:g}\n"
