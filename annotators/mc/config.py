"""MCConfig: the settings of the Monte Carlo rollout annotators (mc-hard, mc-soft, mc-binary,
mc-progress; mc-verify extends it in annotators/mc/verify.py), one typed model the CLI and YAML
share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from annotators.base import EngineRole

MODES = ("mc-hard", "mc-soft", "mc-binary", "mc-progress", "mc-verify")


class MCConfig(BaseModel):
    """Rollout settings. Defaults follow Math-Shepherd / OmegaPRM (k = 8 completions per prefix)."""

    model_config = ConfigDict(extra="forbid")

    engine: EngineRole = Field("default", description="engine role of the policy that completes prefixes")
    prover_engine: EngineRole | None = Field(
        None, description="mc-progress: engine role of the prover policy whose success "
        "probability defines progress (PAV); unset = `engine`")
    k: int = Field(8, ge=1, description="completions sampled per step prefix (paper: 8)")
    temperature: float = Field(0.7, ge=0.0, description="sampling temperature of the rollouts")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling of the rollouts")
    max_tokens: int = Field(512, ge=1, description="max new tokens per rollout")
    stop: list[str] = Field(default_factory=list, description="stop strings of the rollouts")
    seed: int | None = Field(
        0, description="base seed; each (prefix, round) request gets a seed derived from it "
        "and the solution id, so reruns draw the same samples (None = unseeded)")
    min_correct: int = Field(
        1, ge=1, description="mc-hard / mc-binary: rollouts that must reach the gold answer for a "
        "prefix to count as still solvable (1 = any, as Math-Shepherd and OmegaPRM; 2 guards "
        "against lucky recoveries after an error, at a few more rollouts)")
    early_stop: bool = Field(
        True, description="mc-hard / mc-binary: sample in rounds of `chunk` and stop a prefix "
        "as soon as `min_correct` rollouts reach the gold answer (its hard label is settled)")
    chunk: int | None = Field(
        None, ge=1, description="rollouts per round when early_stop is on; unset = ceil(k/2)")
    witness_correct: bool = Field(
        True, description="mc-hard: a correct solution's own steps prove every prefix can reach "
        "the answer, so its hard labels are 1 with no rollouts; false = sample anyway "
        "(Math-Shepherd)")
    soft_threshold: float = Field(
        0.0, ge=0.0, lt=1.0, description="mc-soft: a step is labelled 1 when its fraction of "
        "correct rollouts exceeds this (Qwen: 0, i.e. any success, worked best)")
    after_first_error: Literal["negative", "skip"] = Field(
        "negative", description="mc-binary: steps after the first error are labelled 0 "
        "(negative) or get skipped votes (skip, as Qwen drops them from training)")
    check_empty_prefix: bool = Field(
        True, description="every mode: before labelling a problem's solutions, check that the "
        "policy can solve it at all (a correct generate sample of the same model in the batch, "
        "else k rollouts from the bare problem, as openr filters questions); with no success "
        "its votes are skipped (MC cannot tell a wrong step from a problem the policy never "
        "solves). false = assume it can")
    max_truncated: float = Field(
        0.5, ge=0.0, le=1.0, description="a prefix whose rollouts were cut off at max_tokens "
        "more often than this share gives a skipped vote, not a label (truncated rollouts are "
        "neither successes nor failures; the MC value is over completed ones)")
    progress_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="mc-progress: a step is labelled 1 when its advantage "
        "A_i = MC(prefix_i) - MC(prefix_i-1) >= -threshold; unset = 1/k (forgives one rollout "
        "of sampling noise), 0 = any drop in success probability is negative")
    max_steps: int | None = Field(
        None, ge=1, description="solutions with more steps get skipped votes (a cost guard)")
    samples_kept: int = Field(
        2, ge=0, description="sample completions kept per evaluated prefix in vote details")
    sample_chars: int = Field(300, ge=0, description="characters kept of each sample completion")

    @model_validator(mode="after")
    def _chunk_fits(self) -> "MCConfig":
        if self.chunk is not None and self.chunk > self.k:
            raise ValueError(f"chunk ({self.chunk}) cannot exceed k ({self.k})")
        if self.min_correct > self.k:
            raise ValueError(f"min_correct ({self.min_correct}) cannot exceed k ({self.k})")
        return self

    @property
    def progress_tolerance(self) -> float:
        """The advantage below which mc-progress labels a step 0 (as a positive number)."""
        return 1.0 / self.k if self.progress_threshold is None else self.progress_threshold

    def round_size(self, settle_early: bool) -> int:
        """Rollouts per round: all k at once unless this mode may settle a prefix early."""
        if not (settle_early and self.early_stop):
            return self.k
        return self.chunk or -(-self.k // 2)
