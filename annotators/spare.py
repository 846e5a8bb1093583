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

from typing import Any

from pydantic import Field, model_validator

from annotators import prompts
from annotators.base import Listing, first_error
from annotators.llm import REASONING_CHARS, Ask, LLMAnnotator, LLMConfig, Skip
from annotators.styles.spare import SpareStyle
from annotators.verdicts import clip
from grading.steps import SplitMethod, split_steps
from schemas import Problem, Solution

VERSION = "2.0"
STYLE = SpareStyle()  # its template, tags, answer shape and parser (annotators/styles/spare.py)
TEMPLATE = STYLE.template

__all__ = ["SpareAnnotator", "SpareConfig"]


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


class SpareAnnotator(LLMAnnotator):
    """Aligns and judges each solution against its problem's reference solution."""

    VERSION = VERSION
    config_model = SpareConfig
    names = (Listing("spare", role="judge", rank=3),)
    config: SpareConfig

    def templates(self) -> list[str]:
        return [TEMPLATE]

    def reference_steps(self, problem: Problem) -> tuple[list[str], Skip | None]:
        """The reference solution's steps, or why there are none (skip_kind, reason)."""
        text = (problem.reference_solution or "").strip()
        if not text:
            return [], ("no_reference_solution",
                        f"problem {problem.problem_id} has no reference_solution")
        try:
            return split_steps(text, self.config.reference_split,
                               self.config.reference_pattern), None
        except ValueError as exc:
            return [], ("bad_reference_solution",
                        f"problem {problem.problem_id}: reference_solution not split ({exc})")

    def skip_reason(self, problem: Problem, solution: Solution) -> Skip | None:
        return self.reference_steps(problem)[1]

    def ask_for(self, problem: Problem, solution: Solution) -> Ask:
        reference = self.reference_steps(problem)[0]
        n, m = len(solution.steps), len(reference)
        template = prompts.load(TEMPLATE)
        messages = template.messages(
            problem=prompts.neutralise(problem.question), n_steps=n, n_reference=m,
            reference=prompts.bracketed_steps(reference),
            steps=prompts.bracketed_steps(solution.steps))
        material = [problem.question, *reference, *solution.steps]
        return Ask(solution.solution_id, messages,
                   lambda text: STYLE.parse(text, n, material, n_reference=m),
                   template, {"n_steps": n},
                   constraint=STYLE.answer_shape(n, self.config.reasoning_chars, n_reference=m),
                   details={"reference_step_count": m})

    def labeled(self, solution: Solution, ask: Ask, common: dict[str, Any]) -> list[dict[str, Any]]:
        """Vote fields: the model's labels and alignment, the final step checked against the
        outcome."""
        verdicts = ask.parsed[0].value
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
            if i == 0 and verdicts.reasoning is not None:
                details["reasoning"] = clip(verdicts.reasoning, REASONING_CHARS)
            if i == last:
                details.update(outcome, is_correct=solution.is_correct)
                if outcome.get("outcome_override"):
                    details["source"] = "outcome"
            out.append(dict(status="labeled", label=labels[i], score=float(labels[i]),
                            rationale=verdict.rationale, details=details))
        return out

