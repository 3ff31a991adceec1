"""DKIM keys (issue 15): the key pair and its TXT record, the services' rotation without a
signing gap, the command line, what reaches the node (and what never reaches a log), and the
node's files for rspamd."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from datetime import timedelta
from io import StringIO
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from domains.dkim_keys import generate, txt_strings, txt_value
from domains.dkim_services import (
    dkim_activate,
    dkim_generate,
    dkim_records,
    dkim_retire_due,
    dkim_rotate,
    signing_keys,
)
from domains.models import DkimKey, Domain
from domains.services import domain_create
from domains.tasks import retire_dkim_keys
from organizations.services import organization_create
from provisioning.desired import domain_state
from provisioning.node.agent import NodeAgent
from provisioning.node.dkim import DkimRenderError, render_dkim
from provisioning.node.paths import NodePaths
from provisioning.node.state import DkimSigning, DomainState
from security.audit import Actor
from security.models import AuditEvent
from tempusmail.log_redaction import RedactSecrets

ACTOR = Actor(label="test")


@pytest.fixture
def domain(db) -> Domain:
    org = organization_create(actor=ACTOR, name="DKIM Org")
    return domain_create(actor=ACTOR, name="dkim.test", organization=org)


def test_a_generated_rsa_key_signs_what_its_record_verifies() -> None:
    pair = generate("rsa")
    message = b"From: a@dkim.test\r\nTo: b@x.test\r\nSubject: hi\r\n\r\nbody\r\n"
    signature = dkim.sign(message, b"sel", b"dkim.test", pair.private_pem.encode())
    record = txt_value("rsa", pair.public_b64).encode()
    assert dkim.verify(signature + message, dnsfunc=lambda name, timeout=5: record)


def test_an_ed25519_record_holds_the_bare_public_key_of_its_pem() -> None:
    # (dkimpy signs Ed25519 only through PyNaCl; the key's halves are compared instead.)
    pair = generate("ed25519")
    private = serialization.load_pem_private_key(pair.private_pem.encode(), None)
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert base64.b64decode(pair.public_b64) == raw and len(raw) == 32


def test_the_record_is_cut_into_255_byte_strings() -> None:
    value = txt_value("rsa", generate("rsa").public_b64)
    parts = txt_strings(value)
    assert len(value) > 255 and "".join(parts) == value
    assert all(len(p.encode()) <= 255 for p in parts) and len(parts[0]) == 255


def test_rotation_keeps_one_key_signing_at_every_step(domain: Domain) -> None:
    first = dkim_generate(actor=ACTOR, domain=domain)
    assert first.state == "next" and signing_keys(domain) == []  # published first
    dkim_activate(actor=ACTOR, domain=domain, selector=first.selector)
    assert [k.selector for k in signing_keys(domain)] == [first.selector]
    second = dkim_rotate(actor=ACTOR, domain=domain)
    assert second.selector != first.selector
    assert [k.selector for k in signing_keys(domain)] == [first.selector]  # until activated
    dkim_activate(actor=ACTOR, domain=domain, selector=second.selector)
    assert [k.selector for k in signing_keys(domain)] == [second.selector]
    old = DkimKey.objects.get(pk=first.pk)
    assert old.state == "active" and old.retire_after  # its record stays published
    assert retire_dkim_keys.delay().get() == 0  # the beat task: grace period not over
    assert dkim_retire_due(actor=ACTOR, now=timezone.now() + timedelta(days=8)) == 1
    old.refresh_from_db()
    assert old.state == "retired" and old.private_key == "" and old.retired_at
    assert [r.selector for r in dkim_records(domain)] == [second.selector]


def test_refusals_change_nothing(domain: Domain) -> None:
    with pytest.raises(ValidationError, match="no active rsa"):
        dkim_rotate(actor=ACTOR, domain=domain)
    with pytest.raises(ValidationError, match="Unknown algorithm"):
        dkim_generate(actor=ACTOR, domain=domain, algorithm="dsa")
    key = dkim_generate(actor=ACTOR, domain=domain)
    with pytest.raises(ValidationError, match="already has"):
        dkim_generate(actor=ACTOR, domain=domain)
    with pytest.raises(ValidationError, match="no DKIM key"):
        dkim_activate(actor=ACTOR, domain=domain, selector="nope")
    dkim_activate(actor=ACTOR, domain=domain, selector=key.selector)
    with pytest.raises(ValidationError, match="not waiting"):
        dkim_activate(actor=ACTOR, domain=domain, selector=key.selector)
    assert DkimKey.objects.count() == 1


def test_audit_rows_never_hold_a_key(domain: Domain) -> None:
    key = dkim_generate(actor=ACTOR, domain=domain)
    dkim_activate(actor=ACTOR, domain=domain, selector=key.selector)
    rows = AuditEvent.objects.filter(action__startswith="domain.dkim")
    assert rows.count() == 2
    text = json.dumps([r.changes for r in rows], default=str)
    assert key.selector in text and "PRIVATE" not in text and key.public_key not in text


def test_command_line(domain: Domain) -> None:
    out = StringIO()
    call_command("domain", "dkim", "dkim.test", "--generate", stdout=out)
    selector = DkimKey.objects.get().selector
    assert f"--activate {selector}" in out.getvalue()
    assert f'{selector}._domainkey.dkim.test. IN TXT ( "v=DKIM1; k=rsa; p=' in out.getvalue()
    out = StringIO()
    call_command("domain", "dkim", "dkim.test", "--show", "--json", stdout=out)
    [row] = json.loads(out.getvalue())
    assert row["selector"] == selector and row["state"] == "next" and not row["signing"]
    assert "".join(row["txt_strings"]) == row["txt"] and "private" not in out.getvalue()
    call_command("domain", "dkim", "dkim.test", "--activate", selector, stdout=StringIO())
    for args, message in [
        (["--activate", "zzz"], "selector: dkim.test has no DKIM key “zzz”."),
        (["--generate"], "algorithm: dkim.test already has a rsa DKIM key; rotate it instead."),
        (["--rotate", "--algorithm", "dsa"], "algorithm: Unknown algorithm “dsa”"),
        (["--generate", "--json"], "--json goes with --show only."),
    ]:
        with pytest.raises(CommandError) as caught:
            call_command("domain", "dkim", "dkim.test", *args)
        assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    with pytest.raises(CommandError, match=r"no domain nowhere\.test"):
        call_command("domain", "dkim", "nowhere.test", "--show")
    assert DkimKey.objects.count() == 1


def test_the_signing_key_travels_to_the_node_but_not_into_a_log(domain: Domain) -> None:
    key = dkim_generate(actor=ACTOR, domain=domain)
    assert domain_state(domain, 1).dkim == ()  # a key waiting for its record: not yet
    dkim_activate(actor=ACTOR, domain=domain, selector=key.selector)
    payload = domain_state(domain, 2).to_json()
    assert payload["dkim"] == [
        {"selector": key.selector, "algorithm": "rsa", "private_key": key.private_key}
    ]
    record = logging.LogRecord(
        "celery", logging.INFO, "", 0, "task %s", (json.dumps(payload),), None
    )
    RedactSecrets().filter(record)
    assert "PRIVATE KEY" not in record.getMessage() and "[redacted]" in record.getMessage()


# --- the node ------------------------------------------------------------------------------

PEM = generate("rsa").private_pem
ED_PEM = generate("ed25519").private_pem


def test_render_prefers_rsa_and_refuses_hostile_values() -> None:
    keys = (DkimSigning("ed1", "ed25519", ED_PEM), DkimSigning("tm1", "rsa", PEM))
    rendered = render_dkim("a.test", keys)
    assert rendered.selector_line == "a.test tm1\n"
    assert set(rendered.keys) == {"a.test.tm1.key", "a.test.ed1.key"}
    assert render_dkim("a.test", ()).selector_line == ""
    for bad in [
        DkimSigning("tm1\nevil.test x", "rsa", PEM),
        DkimSigning("../x", "rsa", PEM),
        DkimSigning("tm1", "dsa", PEM),
        DkimSigning("tm1", "rsa", "not a key\n"),
    ]:
        with pytest.raises(DkimRenderError):
            render_dkim("a.test", (bad,))


def test_agent_writes_keys_and_the_selector_map_and_forgets_the_key(tmp_path: Path) -> None:
    agent = NodeAgent(NodePaths(tmp_path), map_type="cdb")
    paths = agent.paths
    agent.apply_domain(DomainState(1, "a.test", 1, dkim=(DkimSigning("tm1", "rsa", PEM),)))
    agent.apply_domain(DomainState(2, "a.test.b", 1, dkim=(DkimSigning("tm9", "rsa", PEM),)))
    key_file = paths.rspamd_dkim_dir / "a.test.tm1.key"
    assert key_file.read_text() == PEM and stat.S_IMODE(key_file.stat().st_mode) == 0o640
    assert stat.S_IMODE(paths.rspamd_dkim_dir.stat().st_mode) == 0o750
    assert paths.rspamd_selector_map.read_text() == "a.test tm1\na.test.b tm9\n"
    memory = (paths.agent_dir / "domains" / "a.test.json").read_text()
    assert "PRIVATE KEY" not in memory and "tm1" in memory
    # Rotation: the new key is written, the map switches, the old file goes.
    agent.apply_domain(DomainState(1, "a.test", 2, dkim=(DkimSigning("tm2", "rsa", PEM),)))
    assert not key_file.exists() and (paths.rspamd_dkim_dir / "a.test.tm2.key").exists()
    assert (paths.rspamd_dkim_dir / "a.test.b.tm9.key").exists()  # another domain's
    assert paths.rspamd_selector_map.read_text() == "a.test tm2\na.test.b tm9\n"
    agent.apply_domain(DomainState(1, "a.test", 3))
    assert paths.rspamd_selector_map.read_text() == "a.test.b tm9\n"
    assert sorted(os.listdir(paths.rspamd_dkim_dir)) == ["a.test.b.tm9.key"]
