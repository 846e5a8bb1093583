"""The explanations a review record gives in words: why a solution was not graded, why a rule
disputes a step (even one every annotator calls correct), what a consensus number means, and an
annotator's rationale quoted as it wrote it (a fragment is called a fragment, not shown as a reason).
"""

from __future__ import annotations

import re
from typing import Protocol, Sequence

from schemas.records import Consensus, Solution, StepVote

RATIONALE_CHARS = 280
MIN_REASON_WORDS = 4  # fewer words than this is a fragment, not a reason
P_CORRECT = "P(correct)"
P_LEGEND = (f"{P_CORRECT}: a rule's probability that the step is correct (the mean of the "
            "annotators' scores it used; 0.50 when they cancel out or nobody decided).")
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|#~])")


class View(Protocol):
    name: str
    steps: dict[int, StepVote]

    def first_error(self) -> int | None: ...


def grade_text(solution: Solution, has_reference: bool) -> str:
    """The grade of the final answer, and why there is none when it was not graded."""
    if solution.is_correct is not None:
        return "correct" if solution.is_correct else "incorrect"
    if solution.finish_reason == "length":
        why = "the solution was cut off at max_tokens before its final answer"
    elif not solution.final_answer:
        why = "no final answer could be read from the solution"
    elif not has_reference:
        why = "the problem has no reference answer"
    else:
        why = "the final answer could not be compared with the reference"
    return f"not graded: {why}"


def quote(text: str, limit: int = RATIONALE_CHARS) -> str:
    """An annotator's words as written, in quotes and with markdown characters escaped (a ``[``
    would start a link), cut at a word boundary with "…" past ``limit``; a text of fewer than
    ``MIN_REASON_WORDS`` words is labelled a fragment."""
    words = " ".join(text.split())
    if len(words) > limit:
        cut = words[:limit].rsplit(" ", 1)[0] if " " in words[:limit] else words[:limit]
        words = cut + " …"
    shown = "“" + _MARKDOWN.sub(r"\\\1", words) + "”"
    if len(words.split()) < MIN_REASON_WORDS:
        return f"{shown} (a fragment: no reason given)"
    return shown


def _where(index: int | None) -> str:
    return "no first error found" if index is None else "no error" if index < 0 else f"step {index + 1}"


def _role_text(details: dict, role: str) -> str:
    name = details.get(f"{role}_annotator") or ("MC" if role == "mc" else "the judge")
    index = details.get(f"{role}_first_error")
    return f"{name}: {'not located' if index is None or index == -2 else _where(int(index))}"


def dispute_reasons(consensus: Sequence[Consensus], views: Sequence[View], n_steps: int) -> list[str]:
    """Per strategy with disputed steps, one line saying why. A rule that compares whole
    solutions (Qwen's: MC and the judge must name the same first error; its rows carry
    ``mc_first_error``) disputes every step, also those every annotator calls correct; a
    per-step rule disputes a step whose labeled votes split or where there is none."""
    lines = []
    for strategy in sorted({c.strategy for c in consensus if c.status == "disputed"}):
        rows = {c.step_index: c for c in consensus if c.strategy == strategy}
        disputed = sorted(i for i, c in rows.items() if c.status == "disputed")
        used = {a for c in rows.values() for a in c.annotators}
        involved = [v for v in views if not used or v.name.split("@")[0] in used]
        facts = next((c.details for c in rows.values() if "mc_first_error" in c.details), None)
        if facts is not None:
            firsts = f"{_role_text(facts, 'mc')}, {_role_text(facts, 'judge')}"
        else:
            firsts = ", ".join(f"{v.name}: {_where(v.first_error())}" for v in involved)
        if facts is not None and len(disputed) == n_steps:
            lines.append(f"**Why {strategy} disputes every step**: the rule labels a solution only "
                         f"when MC and the judge name the same first error, and they do not ({firsts}); "
                         "steps they all call correct are disputed with the rest.")
            continue
        reasons = []
        for i in disputed:
            labels = [v.steps[i].label for v in involved
                      if i in v.steps and v.steps[i].status == "labeled"]
            why = "no labeled vote" if not labels else "votes split" if len(set(labels)) > 1 \
                else f"its labeled votes agree ({'✓' if labels[0] else '✗'}), so the rule judged more than this step"
            reasons.append(f"step {i + 1}: {why}")
        lines.append(f"**Why {strategy} disputes** ({firsts}): " + "; ".join(reasons) + ".")
    return lines + single_source_reasons(consensus)


def single_source_reasons(consensus: Sequence[Consensus]) -> list[str]:
    """Per strategy with single-source steps, one line: who alone labelled which steps."""
    lines = []
    for strategy in sorted({c.strategy for c in consensus if c.status == "single-source"}):
        rows = sorted((c for c in consensus if c.strategy == strategy and c.status == "single-source"),
                      key=lambda c: c.step_index)
        who = sorted({a for c in rows for a in c.annotators}) or ["one annotator"]
        steps = ", ".join(str(c.step_index + 1) for c in rows)
        lines.append(f"**Why {strategy} has no agreed label on step{'s' if len(rows) > 1 else ''} "
                     f"{steps}**: only {', '.join(who)} labelled {'them' if len(rows) > 1 else 'it'} "
                     "(single-source); a label counts as agreed only with two annotators behind it.")
    return lines
