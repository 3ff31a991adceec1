"""What the domain's Provisioning tab says about TLS on its node (issue 15), from the node's
last report (MailNode.tls_status, written by provisioning/usage.py record_tls_status)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from provisioning.models import MailNode


@dataclass(frozen=True)
class TlsSummary:
    active: bool
    error: str
    hostname: str
    not_after: datetime | None
    # The domain's own host names the node has a certificate for (mail.customer.example).
    customer_hosts: list[str]
    reported_at: datetime | None


def tls_summary(node: MailNode | None, domain_name: str) -> TlsSummary | None:
    """None until the node has reported."""
    status = node.tls_status if node is not None else None
    if not isinstance(status, dict):
        return None
    domain = domain_name.lower()
    hosts = [
        str(name)
        for name in status.get("sni") or []
        if str(name) == domain or str(name).endswith(f".{domain}")
    ]
    error = str(status.get("error") or "")
    return TlsSummary(
        active=not error,
        error=error,
        hostname=str(status.get("hostname") or ""),
        not_after=_time(status.get("not_after")),
        customer_hosts=hosts,
        reported_at=_time(status.get("reported_at")),
    )


def _time(value: object) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if isinstance(value, int | float) else None
