"""Monte Carlo rollout annotators: label a step by how often the policy, continuing the
solution from that step, still reaches the gold answer.

Modes (the annotator name): ``mc-hard`` / ``mc-soft`` (Math-Shepherd: every prefix rolled out,
label = any / fraction), ``mc-binary`` (OmegaPRM: binary search for the first error of a wrong
solution, O(log n) prefixes), ``mc-progress`` (Rewarding Progress / PAV: the change in the
prover's success probability made by each step), ``mc-verify`` (checks another annotator's first
error with two prefixes, searching as mc-binary only where it fails: annotators/mc/verify.py).
See docs/mc.md for the labels' meaning.
Every batch of solutions is annotated together: each round of rollouts is one engine call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Mapping, Sequence

from pydantic import BaseModel

from annotators.base import Listing, config_hash as hash_config
from annotators.mc.config import MODES, MCConfig
from annotators.mc.rollouts import Grader, RolloutStats
from annotators.mc.search import Item, binary_search, check_solvable, prepare, sweep
from annotators.mc.verify import Claim, VerifyConfig, verify_first_errors
from annotators.mc.votes import (
    Stamp, binary_votes, progress_votes, skipped_votes, sweep_votes,
)
from engines.base import Engine
from grading.policy import POLICY_PROMPT_VERSION
from schemas import Problem, Solution, StepVote

VERSION = "1.2"  # 1.1: policy-solvability check, truncation, provenance; 1.2: scores are
# measured MC values or None (mc-binary: not 0/1), mc-binary keeps what a cut-off search proved
# (mc-verify, new, starts at 1.2: the other modes' votes are unchanged by it)

__all__ = ["Claim", "MCAnnotator", "MCConfig", "MODES", "VERSION", "VerifyConfig", "build"]


@dataclass
class MCAnnotator:
    """One MC mode over a policy engine (and, for mc-progress, a prover engine)."""

    config_model: ClassVar[type[BaseModel]] = MCConfig
    names: ClassVar[tuple[Listing, ...]] = (  # mc-progress locates no first error: no role
        Listing("mc-hard", role="mc", rank=3), Listing("mc-soft", role="mc", rank=4),
        Listing("mc-binary", role="mc", rank=1), Listing("mc-progress"),
        Listing("mc-verify", role="mc", rank=2, config=VerifyConfig))

    name: str
    config: MCConfig
    engine: Engine
    prover: Engine | None = None
    version: str = VERSION
    stats: RolloutStats = field(default_factory=RolloutStats)

    @classmethod
    def build(cls, name: str, config: MCConfig, engines: Mapping[str, Engine]) -> "MCAnnotator":
        """Registry entry point: ``name`` is the mode, ``config`` validated (VerifyConfig for
        mc-verify), ``engines`` maps roles to Engines."""
        roles = [config.engine] + ([config.prover_engine] if config.prover_engine else [])
        missing = [role for role in roles if role not in engines]
        if missing:
            raise ValueError(f"{name}: engine role(s) {missing} not configured "
                             f"(have {sorted(engines)})")
        prover = engines[config.prover_engine] if config.prover_engine else None
        return cls(name, config, engines[config.engine], prover)

    def __post_init__(self) -> None:
        if self.name not in MODES:
            raise ValueError(f"unknown MC mode {self.name!r}; choose from {', '.join(MODES)}")
        self._grader = Grader()

    @property
    def config_hash(self) -> str:
        return hash_config(self.config, self.name, POLICY_PROMPT_VERSION)

    @property
    def rollout_engine(self) -> Engine:
        """The engine whose rollouts define the values (the prover for mc-progress)."""
        return self.prover if self.name == "mc-progress" and self.prover else self.engine

    @property
    def verifies(self) -> str | None:
        """mc-verify: the annotator whose first errors it checks (it must run first)."""
        return self.config.verify if isinstance(self.config, VerifyConfig) else None

    def annotate(self, problems: Mapping[str, Problem], solutions: Sequence[Solution],
                 claims: Mapping[str, Claim] | None = None) -> Iterator[StepVote]:
        """One vote per step of every solution; all solutions' rollouts are batched together.
        ``claims`` (mc-verify): the verified annotator's first error per solution id; a
        solution without one follows ``unclaimed``."""
        items = prepare(problems, solutions, self.config, self._grader)
        if self.verifies is not None:
            verify_first_errors(self.rollout_engine, items, claims or {}, self.config,
                                self._grader, self.stats)
        else:
            self._run(items)
        stamp = Stamp(self.name, self.version, self.config_hash, self.rollout_engine.model_id)
        for item in items:
            yield from self._votes(stamp, item)

    def _run(self, items: list[Item]) -> None:
        engine, config, grader, stats = self.rollout_engine, self.config, self._grader, self.stats
        if config.check_empty_prefix:
            check_solvable(engine, items, self._rolled_out(items), config, grader, stats,
                           engine.model_id, settle_early=self.name != "mc-progress")
        if self.name == "mc-binary":
            binary_search(engine, items, config, grader, stats)
        elif self.name == "mc-progress":
            sweep(engine, items, config, grader, stats, first_size=0, settle_early=False,
                  witness_correct=False)
        else:
            hard = self.name == "mc-hard"
            sweep(engine, items, config, grader, stats, first_size=1, settle_early=hard,
                  witness_correct=hard and config.witness_correct)

    def _rolled_out(self, items: list[Item]) -> list[Item]:
        """The solutions this mode labels from rollouts (a correct solution labels itself in
        mc-binary, and in mc-hard with witness_correct)."""
        witness = self.name == "mc-binary" or (
            self.name == "mc-hard" and self.config.witness_correct)
        return [item for item in items if not (witness and item.final_correct)]

    def _votes(self, stamp: Stamp, item: Item) -> list[StepVote]:
        if item.skip:
            return skipped_votes(stamp, item)
        if self.name in ("mc-binary", "mc-verify"):
            return binary_votes(stamp, item, self.config)
        if self.name == "mc-progress":
            return progress_votes(stamp, item, self.config)
        return sweep_votes(stamp, item, self.config, soft=self.name == "mc-soft")


def build(name: str, config: dict[str, Any], engines: Mapping[str, Engine]) -> MCAnnotator:
    """Mode ``name`` from a settings mapping (what simulations and tests call; the registry
    validates first and calls ``MCAnnotator.build``)."""
    cfg = (VerifyConfig if name == "mc-verify" else MCConfig).model_validate(config or {})
    return MCAnnotator.build(name, cfg, engines)
