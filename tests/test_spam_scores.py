"""Per-domain spam scores (issue 15): the service's refusals, the command line, what the node
gets and the agent's map for rspamd."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from domains.models import Domain
from domains.services import domain_create
from domains.spam_services import domain_set_spam_scores
from organizations.services import organization_create
from provisioning.desired import domain_state
from provisioning.mailstack.rspamd import render_config
from provisioning.node.agent import NodeAgent
from provisioning.node.dkim import DkimRenderError, spam_scores_line
from provisioning.node.paths import NodePaths
from provisioning.node.state import DomainState
from security.audit import Actor
from security.models import AuditEvent

ACTOR = Actor(label="test")


@pytest.fixture
def domain(db) -> Domain:
    org = organization_create(actor=ACTOR, name="Spam Org")
    return domain_create(actor=ACTOR, name="spam.test", organization=org)


def test_defaults_travel_to_the_node_and_changes_are_audited(domain: Domain) -> None:
    state = domain_state(domain, 1)
    assert (state.spam_junk, state.spam_reject) == (6.0, 15.0)
    version = domain.desired_version
    domain_set_spam_scores(actor=ACTOR, domain=domain, junk="4.5", reject=10)
    domain.refresh_from_db()
    assert domain.desired_version == version + 1
    assert (domain.spam_junk_score, domain.spam_reject_score) == (Decimal("4.5"), Decimal(10))
    assert DomainState.from_json(domain_state(domain, 2).to_json()).spam_junk == 4.5
    row = AuditEvent.objects.get(action="domain.spam_scores")
    assert "4.5" in str(row.changes)


@pytest.mark.parametrize(
    ("junk", "reject", "field", "message"),
    [
        ("x", 10, "spam_junk_score", "is not a number"),
        (5, 0, "spam_reject_score", "above 0"),
        (5, 1001, "spam_reject_score", "at most 1000"),
        (9, 8, "spam_junk_score", "cannot be above the reject score"),
    ],
)
def test_bad_scores_are_refused_and_change_nothing(domain, junk, reject, field, message) -> None:
    with pytest.raises(ValidationError) as caught:
        domain_set_spam_scores(actor=ACTOR, domain=domain, junk=junk, reject=reject)
    assert message in caught.value.message_dict[field][0]
    domain.refresh_from_db()
    assert (domain.spam_junk_score, domain.spam_reject_score) == (6, 15)


def test_command_line(domain: Domain) -> None:
    out = StringIO()
    call_command("domain", "spam", "spam.test", "--junk", "5", "--reject", "12", stdout=out)
    assert out.getvalue().strip() == "spam.test: junk from 5.0, reject from 12.0"
    with pytest.raises(CommandError) as caught:
        call_command("domain", "spam", "spam.test", "--junk", "13", "--reject", "12")
    assert str(caught.value) == "spam junk score: The junk score cannot be above the reject score."
    domain.refresh_from_db()
    assert domain.spam_junk_score == 5


def test_the_agent_writes_the_scores_map(tmp_path: Path) -> None:
    agent = NodeAgent(NodePaths(tmp_path), map_type="cdb")
    agent.apply_domain(DomainState(1, "a.test", 1, spam_junk=5.0, spam_reject=12.5))
    agent.apply_domain(DomainState(2, "b.test", 1))
    assert agent.paths.rspamd_spam_scores_map.read_text() == "a.test 5:12.5\nb.test 6:15\n"
    with pytest.raises(DkimRenderError):
        spam_scores_line("a.test", 9.0, 8.0)


def test_the_test_score_rule_exists_only_in_the_test_bed(tmp_path: Path) -> None:
    ports = {"rspamd_milter": 1, "rspamd_controller": 2}
    assert (
        "TM_TEST_SCORE"
        in render_config(NodePaths(tmp_path), ports, testbed=True)["rspamd.local.lua"]
    )
    production = render_config(NodePaths(tmp_path), ports)["rspamd.local.lua"]
    assert "TM_TEST_SCORE" not in production and "TM_DOMAIN_ACTIONS" in production
