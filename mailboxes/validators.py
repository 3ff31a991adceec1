"""Mailbox addresses and sizes, validated once here for forms, services and commands."""

from __future__ import annotations

import ipaddress
import re
from functools import cache
from zoneinfo import available_timezones as _zones

from django.core.exceptions import ValidationError

from domains.validators import normalize_domain_name

# Deliberately narrower than RFC 5322: the local part ends up in Postfix maps, Dovecot
# passwd-files, Sieve scripts and a filesystem path (mail/<domain>/<local part>), so nothing
# that could separate a field, a line, a path or a quoted string is ever accepted.
_LOCAL_PART = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]{0,62}[a-z0-9_])?$")


def normalize_local_part(value: str) -> str:
    local = (value or "").strip().lower()
    if not local:
        raise ValidationError("Enter the part of the address before the @.", code="required")
    if len(local) > 64:
        raise ValidationError("The part before the @ is at most 64 characters.", code="too_long")
    if not _LOCAL_PART.match(local) or ".." in local:
        raise ValidationError(
            f"“{value}” is not allowed before the @: use letters, digits, '.', '-' or '_', "
            "starting and ending with a letter or digit.",
            code="invalid",
        )
    return local


def split_address(value: str) -> tuple[str, str]:
    """Return (local part, ASCII domain) of a full address, normalised, or raise."""
    address = (value or "").strip()
    if address.count("@") != 1:
        raise ValidationError(f"“{value}” is not an e-mail address.", code="invalid")
    local, domain = address.split("@")
    return normalize_local_part(local), normalize_domain_name(domain)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(value: str) -> int:
    """Parse a storage size such as "500M", "2G", "1.5GiB" or "0" (unlimited) into bytes."""
    match = _SIZE.match(str(value))
    if not match:
        raise ValidationError(
            f"“{value}” is not a size: write e.g. 500M, 2G or 0 for unlimited.", code="invalid"
        )
    number, unit, _ = match.groups()
    size = int(float(number) * _UNITS[unit.upper()])
    if size > 1024**5:
        raise ValidationError(f"“{value}” is too large.", code="too_large")
    return size


def format_size(size: int) -> str:
    if size == 0:
        return "unlimited"
    for unit in ("T", "G", "M", "K"):
        if size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return f"{size}B"


MAX_FORWARDS = 20


def normalize_address(value: str) -> str:
    local, domain = split_address(value)
    return f"{local}@{domain}"


def parse_address_list(value: str | list[str]) -> list[str]:
    """Addresses separated by commas, spaces or lines; normalised, deduplicated, ≤ 20."""
    items = value if isinstance(value, list) else re.split(r"[\s,;]+", value or "")
    addresses: list[str] = []
    errors: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            address = normalize_address(item)
        except ValidationError:
            errors.append(f"“{item}” is not a valid e-mail address.")
            continue
        if address not in addresses:
            addresses.append(address)
    if errors:
        raise ValidationError(errors, code="invalid")
    if len(addresses) > MAX_FORWARDS:
        raise ValidationError(
            f"At most {MAX_FORWARDS} forwarding addresses ({len(addresses)} given).",
            code="too_many",
        )
    return addresses


def parse_networks(value: str | list[str]) -> list[str]:
    """Trusted addresses or networks (one per line or comma), in canonical CIDR form."""
    items = value if isinstance(value, list) else re.split(r"[\s,;]+", value or "")
    networks: list[str] = []
    errors: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            network = str(ipaddress.ip_network(item, strict=False))
        except ValueError:
            errors.append(f"“{item}” is not an IP address or network (e.g. 192.0.2.0/24).")
            continue
        if network not in networks:
            networks.append(network)
    if errors:
        raise ValidationError(errors, code="invalid")
    if len(networks) > 50:
        raise ValidationError("At most 50 trusted networks.", code="too_many")
    return networks


@cache
def available_timezones() -> frozenset[str]:
    return frozenset(_zones())


def validate_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"“{value}” is not a known time zone.", code="invalid")


def validate_address_list(value: list[str]) -> None:
    parse_address_list(value)


def validate_networks(value: list[str]) -> None:
    if parse_networks(value) != value:
        raise ValidationError("Networks must be stored in canonical form.", code="invalid")
