"""SPARK stage 1: step labels voted over several independent verifications.

Each solution is verified ``k`` times by sampling (one request with n = k, temperature > 0:
self-consistency), in the judge's ``critic`` or ``think`` style. With ``meta_critique`` each
readable verification gets a second request that shows it and asks the model to confirm or
revise its verdicts; a readable critique's verdicts replace the original's (details count how
many verifications were revised). Each verification is made consistent as the judge does
(annotators.verdicts.resolve), then every step's label is the majority over the readable
verifications and its score the fraction voting "correct".

Ties (as many correct as incorrect votes) are labelled 0, the conservative choice for PRM
training (a false "correct" teaches the PRM to trust a wrong step), with ``tie: true`` in
details. Verifications that cannot be read are left out of the vote and counted; when none of
the k reads, the request is retried with the parse error (``retries``) and then the votes are
``unparsed``. The paper does not publish N or the aggregation rule; k = 4 and a plain majority
are our defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from annotators import prompts
from annotators.base import Listing, first_error
from annotators.judge import STYLES, format_values, reader, style_messages
from annotators.llm import UNCRITIQUED, Ask, LLMAnnotator, LLMConfig, Reading, converse
from annotators.styles.spark_meta import SparkMetaStyle
from annotators.verdicts import AfterError, ConflictRule, Resolution, Verdicts, clip
from schemas import Problem, Solution

VERSION = "2.0"
META = SparkMetaStyle()  # the meta-critique: its template and tags, a critic answer
META_TEMPLATE = META.template

__all__ = ["SparkAnnotator", "SparkConfig"]


class SparkConfig(LLMConfig):
    """SPARK settings on top of the shared LLM ones."""

    style: Literal["critic", "think", "processbench"] = Field(
        "critic", description="verification prompt: critic (JSON reasoning + verdicts), think "
        "(ThinkPRM chain of thought with \\boxed{correct|incorrect} per step) or processbench "
        "(critique ending in the earliest wrong paragraph's index)")
    k: int = Field(4, ge=1, description="independent verifications sampled per solution")
    temperature: float = Field(0.7, gt=0.0, description="sampling temperature of the k "
                               "verifications (> 0: they must differ)")
    retries: int = Field(1, ge=0, description="times the request is sent again with the parse "
                         "error when none of the k verifications can be read")
    meta_critique: bool = Field(
        False, description="review each readable verification in a second request that may "
        "revise its verdicts (doubles the cost)")
    meta_temperature: float = Field(0.0, ge=0.0, description="temperature of the meta-critique")
    on_conflict: ConflictRule = Field(
        "earliest", description="a verification whose stated first error disagrees with its "
        "verdicts: earliest | explicit | verdicts | retry (counts as unreadable)")
    after_first_error: AfterError = Field(
        "negative", description="steps after a verification's first error: negative (0) or "
        "verdicts (its own verdict)")


@dataclass
class Verification:
    """One readable verification's final reading (after any meta-critique)."""

    verdicts: Verdicts
    resolution: Resolution
    critiqued: bool = False  # a meta-critique was read (and replaced the verdicts)
    revised: bool = False  # ... and it changed at least one label


class SparkAnnotator(LLMAnnotator):
    """k sampled verifications per solution, optionally meta-critiqued, majority-voted."""

    VERSION = VERSION
    config_model = SparkConfig
    names = (Listing("spark", role="judge", rank=2),)
    config: SparkConfig

    def templates(self) -> list[str]:
        return [STYLES[self.config.style].template] + (
            [META_TEMPLATE] if self.config.meta_critique else [])

    def ask_for(self, problem: Problem, solution: Solution) -> Ask:
        n, style = len(solution.steps), STYLES[self.config.style]
        template = prompts.load(style.template)
        read = reader(style, n, [problem.question, *solution.steps], self.config.on_conflict,
                      self.config.after_first_error)
        return Ask(solution.solution_id, style_messages(style, template, problem, solution),
                   read, template, format_values(template, n), n=self.config.k,
                   constraint=style.answer_shape(n, self.config.reasoning_chars))

    def meta_ask(self, problem: Problem, solution: Solution, index: int,
                 reading: Reading) -> Ask:
        """The meta-critique of one verification, in one index base: steps are tagged and
        numbered from 1, the verification's verdicts are listed per step from 1, and its text is
        shown without its own verdict block, a 0-based style's "paragraph i" renamed "step
        i+1" (a processbench box ``\\boxed{1}`` and ``<step_1>`` no longer name different
        steps)."""
        n = len(solution.steps)
        verdicts_read, resolution = reading.value
        verdicts = ", ".join(
            f"step {i}: {'not checked' if i - 1 in resolution.unlabelled else 'correct' if label else 'incorrect'}"
            for i, label in enumerate(resolution.labels, 1))
        template = prompts.load(META_TEMPLATE)
        shown = verdicts_read.reasoning if verdicts_read.reasoning is not None else reading.text
        if STYLES[self.config.style].first_index == 0:
            shown = one_based(shown)
        messages = template.messages(
            problem=prompts.neutralise(problem.question), steps=prompts.tagged_steps(
                solution.steps), verification=prompts.neutralise(clip(shown, 8000)),
            verdicts=verdicts, n_steps=n)
        read = reader(META, n, [problem.question, *solution.steps],
                      self.config.on_conflict, self.config.after_first_error)
        return Ask(f"{solution.solution_id}:meta:{index}", messages, read, template,
                   {"n_steps": n}, temperature=self.config.meta_temperature,
                   constraint=META.answer_shape(n, self.config.reasoning_chars))

    def after_converse(self, matched: list[tuple[Problem, Solution, Ask]]) -> None:
        """With ``meta_critique``: one batched call reviewing every readable verification."""
        if not self.config.meta_critique:
            return
        for problem, solution, ask in matched:
            ask.followups = [self.meta_ask(problem, solution, i, r)
                             for i, r in enumerate(ask.parsed)]
        converse(self.engine, [m for _, _, ask in matched for m in ask.followups],
                 self.config, 0)

    def common(self, ask: Ask) -> dict[str, Any]:
        out = {"k": self.config.k, "attempts": ask.attempts, "style": self.config.style,
               "unparsed_verifications": len(ask.failed), **self.notes()}
        if ask.errors:
            out["errors"] = ask.errors
        return out

    def labeled(self, solution: Solution, ask: Ask, common: dict[str, Any]) -> list[dict[str, Any]]:
        return self.voted(self.verifications(ask, ask.followups), common)

    def verifications(self, ask: Ask, metas: list[Ask]) -> list[Verification]:
        """The readable verifications, each replaced by its meta-critique when that reads."""
        out = []
        for i, reading in enumerate(ask.parsed):
            verdicts, resolution = reading.value
            checked_by = metas[i] if i < len(metas) else None
            if checked_by is not None and checked_by.parsed:
                new_verdicts, new_resolution = checked_by.parsed[0].value
                revised = new_resolution.labels != resolution.labels
                out.append(Verification(new_verdicts, new_resolution, True, revised))
            else:
                out.append(Verification(verdicts, resolution))
        return out

    def voted(self, verifications: list[Verification],
              common: dict[str, Any]) -> list[dict[str, Any]]:
        """Vote fields: per step the majority label (tie -> 0) and the fraction voting 1."""
        n = len(verifications[0].resolution.labels)
        labels, ties, counts, voters_at = [], [], [], []
        for i in range(n):  # a verification votes on the steps it labelled
            voting = [v for v in verifications if i not in v.resolution.unlabelled]
            correct = sum(v.resolution.labels[i] for v in voting)
            voters_at.append(len(voting))
            counts.append(correct)
            ties.append(2 * correct == len(voting))
            labels.append(int(2 * correct > len(voting)))
        voters = len(verifications)
        summary = {"voters": voters, "first_error": first_error(labels),
                   "first_errors": [v.resolution.first_error for v in verifications],
                   "conflicts": sum(v.resolution.conflict is not None for v in verifications),
                   **common}
        if self.config.meta_critique:
            summary.update(meta_revised=sum(v.revised for v in verifications),
                           meta_unreadable=sum(not v.critiqued for v in verifications))
        out = []
        for i in range(n):
            if not voters_at[i]:  # no verification checked this step: no label
                kind, reason = UNCRITIQUED
                out.append(dict(status="skipped", rationale=reason, details={
                    **summary, "skip_kind": kind, "reason": reason}))
                continue
            rationale = next((v.verdicts.steps[i].rationale for v in verifications
                              if v.resolution.labels[i] == labels[i]), "")
            details = {"votes_correct": counts[i], "tie": ties[i], "step_voters": voters_at[i],
                       **summary}
            out.append(dict(status="labeled", label=labels[i],
                            score=counts[i] / voters_at[i], rationale=rationale,
                            details=details))
        return out


_PARAGRAPH_NAME = re.compile(r"(paragraph)(s?)([ \t_#]*)(\d+)", re.I)


_INDEX_BOX = re.compile(r"\\boxed\{\s*-?\d+\s*\}")


def one_based(text: str) -> str:
    """A 0-based critique renamed to the 1-based steps: "Paragraph 2" -> "Step 3"; its 0-based
    index boxes are dropped (the verdicts are listed per step beside it)."""
    text = _INDEX_BOX.sub("[verdict listed below]", text)
    return _PARAGRAPH_NAME.sub(lambda m: f"{'Step' if m.group(1)[0].isupper() else 'step'}"
                               f"{m.group(2)} {int(m.group(4)) + 1}", text)

