"""Corporate signatures, the pure part: filling a template's placeholders for one account.

Values are HTML-escaped before they go into the HTML (a name like "<script>" stays text), and
the filled HTML goes through the sanitiser once more, so even a template saved before the
sanitiser learnt something new cannot carry active content into an account's signature.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from webmail_settings.sanitize import html_to_text, sanitize_html

PLACEHOLDERS = ("first_name", "last_name", "title", "department", "phone", "address", "email")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
# Anything that looks like a placeholder: a typo such as {firstname} is refused on save.
_LOOKS_LIKE_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

# Fills the preview when the template has no chosen account yet.
SAMPLE_VALUES = {
    "first_name": "Jane",
    "last_name": "Doe",
    "title": "Head of Sales",
    "department": "Sales",
    "phone": "+1 555 0100",
    "address": "1 Example Street\n12345 Springfield",
    "email": "jane.doe@example.com",
}


@dataclass(frozen=True)
class Rendered:
    html: str
    text: str


def unknown_placeholders(template_text: str) -> list[str]:
    found = set(_LOOKS_LIKE_PLACEHOLDER.findall(template_text))
    return sorted(found - set(PLACEHOLDERS))


def placeholder_values(mailbox, contact) -> dict[str, str]:
    """The values of one account; contact is its ContactDetails (or None: all empty)."""
    return {
        "first_name": mailbox.first_name,
        "last_name": mailbox.last_name,
        "title": contact.title if contact else "",
        "department": contact.department if contact else "",
        "phone": contact.phone if contact else "",
        "address": contact.address if contact else "",
        "email": mailbox.address,
    }


def _html_value(value: str) -> str:
    # A postal address keeps its lines.
    return "<br>".join(html.escape(line, quote=True) for line in value.splitlines())


def render(template_html: str, template_text: str, values: dict[str, str]) -> Rendered:
    """One account's signature: the HTML filled and sanitised; the text filled as is (it is
    plain text), or derived from the filled HTML when the template has none."""
    filled = _PLACEHOLDER.sub(lambda match: _html_value(values[match[1]]), template_html)
    clean = sanitize_html(filled)
    if template_text.strip():
        text = _PLACEHOLDER.sub(lambda match: values[match[1]], template_text).strip()
    else:
        text = html_to_text(clean)
    return Rendered(clean, text)
