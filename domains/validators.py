"""Domain names: normalised to their ASCII (IDNA) form before anything stores or renders them."""

from __future__ import annotations

import re

import idna
from django.core.exceptions import ValidationError

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain_name(value: str) -> str:
    """Return the lowercase ASCII form of a domain name, or raise ValidationError.

    Unicode names are encoded with IDNA 2008 (UTS 46 mapping), so "Bücher.Example" and
    "xn--bcher-kva.example" are the same domain.
    """
    name = (value or "").strip().rstrip(".")
    if not name:
        raise ValidationError("Enter a domain name.", code="required")
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError) as exc:
        raise ValidationError(f"“{value}” is not a valid domain name.", code="invalid") from exc
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(_LABEL.match(lb) for lb in labels):
        raise ValidationError(f"“{value}” is not a valid domain name.", code="invalid")
    if labels[-1].isdigit():
        raise ValidationError(f"“{value}” is not a valid domain name.", code="invalid")
    return ascii_name


def validate_domain_name(value: str) -> None:
    if normalize_domain_name(value) != value:
        raise ValidationError(
            f"“{value}” is not in its normalised form ({normalize_domain_name(value)}).",
            code="not_normalized",
        )


def display_domain_name(ascii_name: str) -> str:
    """The Unicode form for people to read."""
    try:
        return idna.decode(ascii_name)
    except (idna.IDNAError, UnicodeError):
        return ascii_name
