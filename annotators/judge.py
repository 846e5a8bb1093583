"""LLM-as-a-judge: a model reads the problem and the numbered steps, reasons about each step and
then gives its verdict, plus the earliest wrong step (Qwen's "Lessons of Developing PRMs" judge,
ProcessBench's critic setup, ThinkPRM's verification chain of thought).

Styles (each one module of annotators/styles/: its template in annotators/prompts/, its tags,
its answer's shape and its parser):

- ``critic``: one JSON object ``{"steps": [{"step", "reasoning", "verdict"}], "first_error"}``,
  the reasoning for each step before its verdict;
- ``think``: ThinkPRM-style sections "Step k: ... \\boxed{correct|incorrect}", then "Is the
  solution correct? Yes|No"; the answer may stop after the first incorrect step;
- ``processbench``: the ProcessBench critique template (``<paragraph_i>`` tags from 0, a
  critique, then ``\\boxed{i}``: the earliest wrong paragraph, -1 for none).

Every answer has two parts: free reasoning (``<think>`` ... ``</think>``, as long as
``max_tokens`` minus the verdict block allows), then the style's verdict block. With
``constrained`` (default) the engine enforces that shape while decoding, with exactly one
verdict per step (or the first-error index), and forces the verdict block when the reasoning
reaches its budget. ``votes: N`` samples N answers (self-consistency, as ProcessBench's
majority over 8 critiques): the labels follow the majority first-error index (ties: the earliest
error) and each step's score is the share of readable answers calling it correct. The shared
machinery (asking, retries, raw text, stamping, votes) is annotators/llm.py.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import Field

from annotators import prompts
from annotators.base import Listing
from annotators.llm import Ask, LLMAnnotator, LLMConfig, resolved_fields
from annotators.styles.base import AnswerStyle
from annotators.styles.critic import CriticStyle
from annotators.styles.processbench import ProcessBenchStyle
from annotators.styles.think import ThinkStyle
from annotators.verdicts import AfterError, ConflictRule, checked
from schemas import Problem, Solution

VERSION = "2.0"

__all__ = ["JudgeAnnotator", "JudgeConfig", "STYLES", "format_values", "reader",
           "style_messages"]

# the judge's styles (annotators/styles/: template, delimiters, shape, token budget, parser)
STYLES: dict[str, AnswerStyle] = {style.name: style()
                                  for style in (CriticStyle, ThinkStyle, ProcessBenchStyle)}


def style_messages(style: AnswerStyle, template: prompts.Template, problem: Problem,
                   solution: Solution) -> list[dict[str, str]]:
    """The prompt: the problem and the steps tagged the style's way, user text neutralised."""
    values: dict[str, Any] = {
        "problem": prompts.neutralise(problem.question),
        "steps": prompts.tagged_steps(solution.steps, style.step_tag, style.first_index)}
    if "n_steps" in template.placeholders("user"):
        values["n_steps"] = len(solution.steps)
    return template.messages(**values)


def format_values(template: prompts.Template, n: int) -> dict[str, Any]:
    """The values the template's format reminder (sent with a parse error) takes."""
    wanted = template.placeholders("format")
    return {k: v for k, v in {"n_steps": n, "last_index": n - 1}.items() if k in wanted}


class JudgeConfig(LLMConfig):
    """The LLM judge: prompt style, self-consistency and how inconsistent answers are read."""

    style: Literal["critic", "think", "processbench"] = Field(
        "critic", description="critic: JSON reasoning + verdict per step and first_error; think: "
        "ThinkPRM chain of thought with \\boxed{correct|incorrect} per step; processbench: the "
        "ProcessBench critique ending in \\boxed{index of the earliest wrong paragraph, or -1}")
    votes: int = Field(1, ge=1, description="answers sampled per solution (self-consistency): "
                       "labels follow the majority first-error index, score = share of answers "
                       "calling the step correct")
    vote_temperature: float = Field(0.7, gt=0.0, description="sampling temperature when "
                                    "votes > 1 (the answers must differ)")
    on_conflict: ConflictRule = Field(
        "earliest", description="when the stated first error (or 'Is the solution correct?') "
        "disagrees with the per-step verdicts: earliest (take the earlier error), explicit "
        "(trust the stated index), verdicts (trust the verdicts), retry (ask again)")
    after_first_error: AfterError = Field(
        "negative", description="steps after the first error: negative (labelled 0, the "
        "ProcessBench/Qwen convention) or verdicts (keep the model's own verdict where it gave "
        "one: critic and think blocks that go on after an incorrect step; steps the model never "
        "judged stay 0 by the convention)")


def reader(style: AnswerStyle, n: int, material: list[str], on_conflict: ConflictRule,
           after_first_error: AfterError):
    """Parse an answer of ``style``; verdict blocks copied from ``material`` are skipped."""
    return checked(lambda text: style.parse(text, n, material), on_conflict, after_first_error)


class JudgeAnnotator(LLMAnnotator):
    """Labels each solution from one judge answer (retried when unreadable), or from the
    majority of ``votes`` sampled answers."""

    VERSION = VERSION
    config_model = JudgeConfig
    names = (Listing("judge", role="judge", rank=1),)
    config: JudgeConfig

    def templates(self) -> list[str]:
        return [STYLES[self.config.style].template]

    def ask_for(self, problem: Problem, solution: Solution) -> Ask:
        n, style = len(solution.steps), STYLES[self.config.style]
        template = prompts.load(style.template)
        read = reader(style, n, [problem.question, *solution.steps], self.config.on_conflict,
                      self.config.after_first_error)
        votes = self.config.votes
        return Ask(solution.solution_id, style_messages(style, template, problem, solution), read,
                   template, format_values(template, n), n=votes,
                   temperature=self.config.vote_temperature if votes > 1 else None,
                   constraint=style.answer_shape(n, self.config.reasoning_chars))

    def common(self, ask: Ask) -> dict[str, Any]:
        return {"style": self.config.style, **super().common(ask)}

    def labeled(self, solution: Solution, ask: Ask, common: dict[str, Any]) -> list[dict[str, Any]]:
        readings = ask.parsed
        if self.config.votes == 1:
            verdicts, resolution = readings[0].value
            if verdicts.overall is not None:
                common["overall"] = verdicts.overall
            return resolved_fields(verdicts, resolution, common)
        return voted_fields([r.value for r in readings], len(ask.failed), common)


def voted_fields(values: list, unreadable: int, common: dict[str, Any]) -> list[dict[str, Any]]:
    """Self-consistency: the majority first-error index over the readable answers (a tie goes
    to the earliest error, the conservative reading), labels from an answer that has it, and
    per step the share of answers calling the step correct as its score."""
    indices = [resolution.first_error for _, resolution in values]
    counts = Counter(indices)
    winner = min(counts, key=lambda i: (-counts[i], i if i >= 0 else len(indices) + 10**6))
    # the labels of an answer with that index, the one that critiqued the most steps
    verdicts, resolution = min((v for v in values if v[1].first_error == winner),
                               key=lambda v: len(v[1].unlabelled))
    common = {**common, "votes": len(values), "unreadable_votes": unreadable,
              "first_errors": indices, "vote_share": counts[winner] / len(values)}
    fields = resolved_fields(verdicts, resolution, common)
    for i, f in enumerate(fields):
        voting = [r for _, r in values if i not in r.unlabelled]  # answers that labelled it
        if f["status"] == "labeled" and voting:
            f["score"] = sum(r.labels[i] for r in voting) / len(voting)
    return fields

