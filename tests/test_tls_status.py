"""The node's TLS as the panel sees it (issue 15): the node reports its certificate with its
usage report, and the domain's Provisioning tab says whether TLS is active, for which host
names, or why not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from provisioning import tasks, usage
from provisioning.mailstack import tls
from provisioning.mailstack.profile import PRODUCTION, Profile
from tests.personas import World, build_world

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def test_the_node_reports_its_certificate_or_why_it_has_none(tmp_path: Path) -> None:
    tls_dir = tmp_path / "tls"
    profile = Profile(hostname="mx.example.test")
    missing = tls.node_status(profile, tls_dir)
    assert missing["not_after"] is None and "no certificate at" in str(missing["error"])
    assert "mailstack start" in str(missing["error"])

    ca = tls.testbed_ca(tls_dir)
    cert, _ = tls.certificate(profile, tls_dir)
    tls.issue(ca, "mail.customer.test", tls.sni_dir(tls_dir))
    good = tls.node_status(profile, tls_dir)
    assert good["error"] == "" and good["hostname"] == "mx.example.test"
    assert good["sni"] == ["mail.customer.test"]
    expires = float(good["not_after"])  # type: ignore[arg-type]
    expired = tls.node_status(profile, tls_dir, now=expires + 1)
    assert expired["error"] == f"the certificate {cert} has expired"

    gone = tmp_path / "gone.crt"
    configured = Profile(name=PRODUCTION, hostname="mx.example.test", listen=("192.0.2.1",),
                         tls_cert=gone, tls_key=tmp_path / "gone.key")  # fmt: skip
    assert tls.node_status(configured, tls_dir)["error"] == f"no certificate at {gone}"
    (tmp_path / "junk.crt").write_text("not a certificate")
    junk = Profile(name=PRODUCTION, hostname="mx.example.test", listen=("192.0.2.1",),
                   tls_cert=tmp_path / "junk.crt", tls_key=tmp_path / "gone.key")  # fmt: skip
    assert "is not a readable PEM certificate" in str(tls.node_status(junk, tls_dir)["error"])


@pytest.mark.django_db
def test_the_usage_report_carries_the_tls_status(world: World, tmp_path: Path, settings) -> None:
    settings.MAILNODE_DIR = tmp_path / "node"
    tls.certificate(Profile(hostname=settings.MAILNODE_HOSTNAME), tmp_path / "node" / "tls")
    node = world.acme_domain.node
    tasks.report_usage(node.name)  # eager: the panel's record task runs inline
    node.refresh_from_db()
    assert node.tls_status["hostname"] == settings.MAILNODE_HOSTNAME
    assert node.tls_status["error"] == "" and node.tls_status["not_after"] > 0
    assert node.tls_status["reported_at"] > 0


@pytest.mark.django_db
def test_the_provisioning_tab_says_whether_tls_is_active(world: World) -> None:
    domain, alice = world.acme_domain, world.client("alice")
    url = reverse("domain_provisioning", args=[domain.pk])
    assert "the node has not reported yet" in alice.get(url).content.decode()

    customer_host = f"mail.{domain.name}"
    status = {"hostname": "mx.node.test", "not_after": 1893456000.0, "error": "",
              "sni": [customer_host, "mail.someone-else.test"]}  # fmt: skip
    assert usage.record_tls_status(domain.node.name, status)
    page = alice.get(url).content.decode()
    assert '<span class="badge online">Active</span> certificate for mx.node.test' in page
    assert "valid until 2030-01-01" in page and f"; {customer_host} by SNI" in page
    assert "someone-else" not in page  # another customer's host name is not this domain's

    status = {**status, "error": "no certificate at /srv/<node>.crt", "not_after": None}
    assert usage.record_tls_status(domain.node.name, status)
    page = alice.get(url).content.decode()
    assert '<span class="badge offline">No TLS</span>' in page
    assert "no certificate at /srv/&lt;node&gt;.crt" in page
    assert not usage.record_tls_status("no-such-node", status)
