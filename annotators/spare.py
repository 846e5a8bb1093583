"""SPARE: single-pass, reference-guided step labels.

The prompt holds the problem's reference solution split into steps ``[1] [2] ...`` and the
student's steps numbered the same way; in one generation the model aligns every student step to
the reference step(s) it corresponds to and judges it, answering a JSON list of
``{"student_step", "reference_steps", "label": "CORRECT"|"INCORRECT", "reason"}``. The alignment
is stored in each vote's ``details.reference_steps`` (0-based reference step indices).

Differences from the public SPARE code, on purpose: slightly malformed JSON is repaired
(trailing commas, code fences, single quotes), but a missing or duplicated student step is a
parse error sent back to the model, then ``unparsed`` votes; the public parser labels missing
steps incorrect, we do not guess. As SPARE does, the final step's label is checked against the
solution's graded outcome (``outcome_check``, default on) and every override is recorded. The
grading prompt itself is not public; ours is annotators/prompts/spare.txt. Problems without a
reference solution get ``skipped`` votes naming the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from pydantic import Field, model_validator

from annotators import prompts
from annotators.base import config_hash as hash_config, first_error
from annotators.judge import (
    Ask, LLMConfig, Stamp, converse, engine_for, pair, skipped_fields, solution_votes,
    unparsed_fields,
)
from annotators.verdicts import Verdicts, parse_spare
from engines.base import Engine
from grading.steps import SplitMethod, split_steps
from schemas import Problem, Solution, StepVote

VERSION = "1.0"
TEMPLATE = "spare"

__all__ = ["SpareAnnotator", "SpareConfig", "build"]


class SpareConfig(LLMConfig):
    """SPARE settings on top of the shared LLM ones."""

    outcome_check: bool = Field(
        True, description="set the final step's label from the solution's graded outcome "
        "(is_correct), as SPARE does; overrides of the model are recorded in details")
    reference_split: SplitMethod = Field(
        "auto", description="how the reference solution is split into steps: auto | paragraphs "
        "| step-markers | lines | regex")
    reference_pattern: str | None = Field(
        None, description="regular expression separating reference steps (reference_split: "
        "regex only)")

    @model_validator(mode="after")
    def _pattern_for_regex(self) -> "SpareConfig":
        if self.reference_split == "regex" and not self.reference_pattern:
            raise ValueError("reference_split 'regex' needs a reference_pattern")
        return self


@dataclass
class SpareAnnotator:
    """Aligns and judges each solution against its problem's reference solution."""

    name: str
    config: SpareConfig
    engine: Engine
    version: str = ""

    def __post_init__(self) -> None:
        self.template = prompts.load(TEMPLATE)
        self.version = f"{VERSION}+{prompts.fingerprint(TEMPLATE, 'retry')}"

    @property
    def config_hash(self) -> str:
        return hash_config(self.config, self.name)

    def reference_steps(self, problem: Problem) -> tuple[list[str], str | None]:
        """The reference solution's steps, or the reason there are none."""
        text = (problem.reference_solution or "").strip()
        if not text:
            return [], f"problem {problem.problem_id} has no reference_solution"
        try:
            return split_steps(text, self.config.reference_split,
                               self.config.reference_pattern), None
        except ValueError as exc:
            return [], f"problem {problem.problem_id}: reference_solution not split ({exc})"

    def ask_for(self, solution: Solution, problem: Problem, reference: list[str]) -> Ask:
        n, m = len(solution.steps), len(reference)
        messages = self.template.messages(
            problem=prompts.neutralise(problem.question), n_steps=n, n_reference=m,
            reference=prompts.bracketed_steps(reference),
            steps=prompts.bracketed_steps(solution.steps))
        return Ask(solution.solution_id, messages, lambda text: parse_spare(text, n, m),
                   self.template, {"n_steps": n})

    def annotate(self, problems: Mapping[str, Problem],
                 solutions: Sequence[Solution]) -> Iterator[StepVote]:
        """One vote per step; solutions whose problem lacks a reference are skipped."""
        stamp = Stamp(self.name, self.version, self.config_hash, self.engine.model_id)
        work: dict[str, tuple[Ask, int]] = {}
        skipped: dict[str, str] = {}
        for problem, solution in zip(pair(problems, solutions), solutions):
            reference, reason = self.reference_steps(problem)
            if reason:
                skipped[solution.solution_id] = reason
            else:
                work[solution.solution_id] = (self.ask_for(solution, problem, reference),
                                              len(reference))
        converse(self.engine, [ask for ask, _ in work.values()], self.config, self.config.retries)
        for solution in solutions:
            if solution.solution_id in skipped:
                fields = skipped_fields(solution, skipped[solution.solution_id])
                yield from solution_votes(stamp, solution, (0, 0), fields)
                continue
            ask, m = work[solution.solution_id]
            common = {"attempts": ask.attempts, "reference_step_count": m}
            if ask.parsed:
                fields = self.labeled(solution, ask.parsed[0].value, common | (
                    {"errors": ask.errors} if ask.errors else {}))
            else:
                fields = unparsed_fields(solution, ask, self.config.raw_chars, **common)
            yield from solution_votes(stamp, solution, (ask.prompt_tokens,
                                                        ask.completion_tokens), fields)

    def labeled(self, solution: Solution, verdicts: Verdicts,
                common: dict[str, Any]) -> list[dict[str, Any]]:
        """Vote fields: the model's labels and alignment, the final step checked against the
        outcome."""
        labels = verdicts.labels
        last = len(labels) - 1
        outcome: dict[str, Any] = {}
        if not self.config.outcome_check:
            outcome["outcome_check"] = "off"
        elif solution.is_correct is None:
            outcome["outcome_check"] = "ungraded"
        else:
            outcome["outcome_check"] = "applied"
            if labels[last] != int(solution.is_correct):
                outcome.update(outcome_override=True, model_label=labels[last])
                labels = labels[:last] + [int(solution.is_correct)]
        found = first_error(labels)
        out = []
        for i, verdict in enumerate(verdicts.steps):
            details = {"reference_steps": list(verdict.reference_steps or ()),
                       "verdict": "correct" if verdict.label else "incorrect",
                       "source": "verdict", "first_error": found, **common}
            if i == last:
                details.update(outcome, is_correct=solution.is_correct)
                if outcome.get("outcome_override"):
                    details["source"] = "outcome"
            out.append(dict(status="labeled", label=labels[i], score=float(labels[i]),
                            rationale=verdict.rationale, details=details))
        return out


def build(name: str, config: dict[str, Any], engines: Mapping[str, Engine]) -> SpareAnnotator:
    """Registry entry point: ``config`` holds SpareConfig fields, ``engines`` maps roles."""
    cfg = SpareConfig.model_validate(config or {})
    return SpareAnnotator(name, cfg, engine_for(name, cfg.engine, engines))
