"""The consensus rule learns the MC and judge candidates from the annotators' registrations."""

from __future__ import annotations

from annotators.base import config_hash
from annotators.registry import role_members
from reconcile import ConsensusRule, ReconcileConfig


def test_default_roles_come_from_the_registry():
    rule = ConsensusRule()
    assert rule.mc == role_members("mc")
    assert rule.judge == role_members("judge")
    assert ReconcileConfig().consensus.mc == role_members("mc")


def test_default_roles_keep_the_stored_rows_hash():
    """The default lists (and so the rule's hash in every row's inputs hash) are those of the
    hard-coded lists they replace: a lake reconciled before reconciles to no new row."""
    assert ConsensusRule().mc == ["mc-binary", "mc-verify", "mc-hard", "mc-soft"]
    assert ConsensusRule().judge == ["judge", "spark", "spare"]
    assert config_hash(ConsensusRule()) == "397a76f74ff5"


def test_an_explicit_list_wins():
    rule = ReconcileConfig.model_validate({"consensus": {"mc": ["mc-hard"], "judge": ["spare"]}})
    assert rule.consensus.mc == ["mc-hard"] and rule.consensus.judge == ["spare"]
    assert ConsensusRule().mc is not ConsensusRule().mc  # a fresh list each time
