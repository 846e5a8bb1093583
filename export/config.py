"""The export's options (the ``export:`` section and the CLI flags)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FORMATS = ("trl", "math-shepherd", "processbench", "jsonl", "verifier-sft")
DEFAULT_STEP_TAG = "ки"


class ExportConfig(BaseModel):
    """What to export and how it is labelled. Loaded from the ``export:`` section and flags."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["trl", "math-shepherd", "processbench", "jsonl", "verifier-sft"] = Field(
        "trl", description="trl (prompt, completions, labels: TRL's PRMTrainer), math-shepherd "
        "(input/label texts with a step tag), processbench (problem, steps, label = first wrong "
        "step or -1), jsonl (every field, JSON lines), verifier-sft (chat messages: the "
        "judge's prompt and its own answer, only answers agreeing with the final labels; for "
        "TRL's SFTTrainer)")
    strategy: str = Field("consensus", description="consensus strategy whose labels are exported")
    statuses: list[Literal["agreed", "human"]] = Field(
        default_factory=lambda: ["agreed", "human"],
        description="consensus statuses that count as labels (disputed steps never do; "
        "single-source steps only with --force)")
    human_override: bool = Field(
        True, description="a step with a human consensus row under any strategy takes the "
        "latest human label (human wins)")
    annotators: list[str] | None = Field(
        None, description="keep only step labels whose consensus used votes of all of these "
        "annotators (e.g. mc-binary,judge)")
    min_probability: float | None = Field(
        None, ge=0.5, le=1.0, description="keep only step labels whose consensus probability of "
        "the chosen label is at least this (rows without a probability pass)")
    max_steps: int | None = Field(None, ge=1, description="skip solutions with more steps")
    truncate_after_first_error: bool = Field(
        True, description="Qwen's rule: drop the steps (and labels) after the first negative step")
    partial: Literal["drop", "prefix"] = Field(
        "drop", description="a solution with an unlabelled step before its example is complete: "
        "drop it, or export the labelled prefix (not for processbench)")
    dedup: bool = Field(True, description="export identical (problem, steps) once; identical "
                        "content with conflicting labels is dropped")
    test_fraction: float = Field(0.1, ge=0.0, le=1.0,
                                 description="share of problems (by hash) in the test split")
    split_salt: str = Field("stepforge", description="salt of the problem hash deciding the split")
    soft_labels: bool = Field(True, description="add the consensus probability of each step "
                              "being correct (MC fraction, vote share, posterior) as soft_labels")
    verifier: list[str] = Field(
        default_factory=lambda: ["judge"], min_length=1,
        description="verifier-sft: annotators whose answers become examples (their newest run "
        "per solution; judge and spare keep their prompt and answer text)")
    step_tag: str = Field(DEFAULT_STEP_TAG, description="math-shepherd: the tag after each step")
    metadata: bool = Field(True, description="add solution_id, problem_id, generator and source "
                           "columns")
    force: bool = Field(False, description="write the set even when its labels fail the "
                        "information checks (one label value on every step, every label from "
                        "one annotator that skipped or could not parse most of its votes, or "
                        "single-source steps: these are then exported as labels, and the card "
                        "says so)")
    # where the export runs, not what it writes: left out of the card (exclude)
    memory_limit: str | None = Field(None, exclude=True, description="DuckDB memory limit while "
                                     "selecting and writing, e.g. 4GB (default: an eighth of the "
                                     "machine's RAM); beyond it DuckDB spills to temp_directory")
    temp_directory: str | None = Field(None, exclude=True, description="folder for the scratch "
                                       "DuckDB file and its spill (default: the system temp folder)")


def label_statuses(config: ExportConfig) -> list[str]:
    """The consensus statuses exported as labels: ``statuses``, plus ``single-source`` (one
    annotator's labeled vote alone) when ``force`` is given."""
    return list(config.statuses) + (["single-source"] if config.force else [])
