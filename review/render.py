"""The markdown a review record shows: the numbered steps with every annotator's verdict under
each, the annotators' answer as text, and the table of verdicts, consensus and reasons. GSM8K
calculator annotations (``<<12+5=17>>``) are shown as their result; labels an MC annotator
inferred from another step are marked "inferred"."""

from __future__ import annotations

import re
from typing import Sequence

from review.disputed import AnnotatorView, Disputed, plurality_first_error, wrong_by_majority
from review.explain import P_CORRECT, P_LEGEND, dispute_reasons, grade_text, quote
from schemas.records import Consensus, StepVote

CELL_PAD = "&emsp;"


def _step_list(steps: Sequence[int]) -> str:
    """0-based steps as "1-3, 5" (runs collapsed)."""
    runs: list[list[int]] = []
    for i in steps:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(f"{r[0] + 1}" if len(r) == 1 else f"{r[0] + 1}-{r[-1] + 1}" for r in runs)


def annotators_answer(views: Sequence[AnnotatorView], n_steps: int) -> str:
    """The annotators' answer as text, never as a pre-filled form value: their plurality first
    error with who names it, and the steps most labeled votes call wrong with who does."""
    plural = plurality_first_error(views)
    if plural is None:
        return "**Annotators' answer** (not pre-selected): none, no annotator labeled a step."
    index, backers, _ = plural
    informative = sum(1 for v in views if v.first_error() is not None)
    text = (f"**Annotators' answer** (not pre-selected: answer yourself): first error "
            f"{_first_error_text(index)} by {' / '.join(backers)} ({len(backers)} of {informative} "
            f"annotator{'s' if informative != 1 else ''} with labels)")
    steps, wrong_backers = wrong_by_majority(views, n_steps)
    if steps:
        text += (f" · wrong by most labeled votes: step{'s' if len(steps) > 1 else ''} "
                 f"{_step_list(steps)} by {' / '.join(wrong_backers)}")
    return text


CALCULATOR = re.compile(r"<<([^<>]*?)=([^<>=]*)>>")


def strip_calculator(text: str) -> str:
    """GSM8K calculator annotations shown as their result: ``12+5=<<12+5=17>>17`` reads
    ``12+5=17``, a bare ``<<12+5=17>>`` reads ``17``."""
    def result(match: re.Match) -> str:
        value = match.group(2).strip()
        after = text[match.end():].lstrip()
        written = re.match(r"-?[\d,]*\.?\d+", after)
        same = after.startswith(value) or (written is not None and _same_number(written.group(), value))
        return "" if same else value

    return CALCULATOR.sub(result, text)


def _same_number(a: str, b: str) -> bool:
    try:
        return float(a.replace(",", "")) == float(b.replace(",", ""))
    except ValueError:
        return False


def safe_markdown(text: str) -> str:
    """Step text safe in markdown: a leading '#' would render as a heading, '|' breaks tables."""
    lines = [("\\" + line) if line.lstrip().startswith("#") else line
             for line in strip_calculator(text).splitlines()]
    return "\n".join(lines).strip()


# Plain symbols (in DejaVu and every system font): emoji render as empty boxes without an emoji font.
def inferred(vote: StepVote) -> bool:
    """An MC label deduced from another step's result, not tested by its own rollouts."""
    return (vote.details or {}).get("source") == "inferred"


def _cell(vote: StepVote | None) -> str:
    if vote is None:
        return ""
    if vote.status != "labeled":
        return "? unparsed" if vote.status == "unparsed" else "– skipped"
    mark = "✓" if vote.label == 1 else "✗"
    if inferred(vote):
        return f"{mark} inferred"
    return f"{mark} {vote.score:.2f}" if vote.score is not None else mark


def _consensus_cell(row: Consensus | None) -> str:
    if row is None:
        return ""
    mark = {1: "✓", 0: "✗"}.get(row.label, "")
    if row.status == "disputed":
        mark = "⚠ disputed"
    elif row.status == "single-source":
        mark = f"⚠ single-source ({mark} by {', '.join(row.annotators) or 'one annotator'} alone)"
    return f"{mark}, {P_CORRECT} {row.probability:.2f}" if row.probability is not None else mark


def _first_error_text(index: int | None) -> str:
    return "—" if index is None else "no error" if index < 0 else f"step {index + 1}"


def step_verdicts(item: Disputed, views: Sequence[AnnotatorView], index: int) -> str:
    """One line of every annotator's verdict on step ``index`` and the consensus per strategy."""
    parts = [f"{v.name} {_cell(v.steps.get(index))}" for v in views if index in v.steps]
    for row in sorted(item.consensus, key=lambda c: c.strategy):
        if row.step_index == index:
            parts.append(f"{row.strategy} rule {_consensus_cell(row)}")
    return " · ".join(parts)


def render_solution(item: Disputed, views: Sequence[AnnotatorView] | None = None) -> str:
    """The numbered steps, each followed by the verdicts on it, then the final answer and its
    grade, and how many steps the record has (answers beyond them are rejected at pull)."""
    views = item.annotators() if views is None else views
    lines = []
    for i, step in enumerate(item.solution.steps):
        verdicts = step_verdicts(item, views, i)
        lines.append(f"**Step {i + 1}.** {safe_markdown(step)}" + (f"\n> {verdicts}" if verdicts else ""))
    sol = item.solution
    reference = item.problem.reference_answer if item.problem else None
    grade = grade_text(sol, reference is not None)
    footer = f"Final answer: **{sol.final_answer or '—'}**"
    if reference is not None:
        footer += f" · reference: **{reference}**"
    n = len(sol.steps)
    return "\n\n".join(lines + ["---", f"{footer} · {grade}",
                                 f"*This solution has {n} step{'s' if n != 1 else ''}: answer "
                                 f"No error or Step 1 to Step {n}.*"])


def _row(cells: Sequence[str]) -> str:
    """A markdown table row; an ``&emsp;`` after each cell keeps columns apart (Argilla's CSS
    gives table cells no padding, and the markdown parser trims literal Unicode spaces)."""
    return "| " + " | ".join(f"{c}{CELL_PAD}" if c else c for c in cells) + " |"


def render_verdicts(item: Disputed, views: Sequence[AnnotatorView]) -> str:
    """A step × annotator table of verdicts and scores, the consensus columns, each annotator's
    first error, why each rule disputes, what P(correct) is, and the rationale each annotator
    gave for the step it called wrong first (quoted; a fragment is called one)."""
    strategies = sorted({c.strategy for c in item.consensus})
    by_step = {(c.strategy, c.step_index): c for c in item.consensus}
    head = ["step"] + [v.name for v in views] + [f"{s} rule" for s in strategies]
    rows = [_row([h.replace("|", "/") for h in head]), "|" + "---|" * len(head)]
    for i in range(len(item.solution.steps)):
        cells = [str(i + 1)] + [_cell(v.steps.get(i)) for v in views]
        cells += [_consensus_cell(by_step.get((s, i))) for s in strategies]
        rows.append(_row(cells))
    rows.append(_row(["**first error**"] + [_first_error_text(v.first_error()) for v in views]
                     + [""] * len(strategies)))
    notes = []
    for view in views:
        first = view.first_error()
        vote = view.steps.get(first) if first is not None and first >= 0 else None
        if vote is not None and vote.rationale.strip():
            notes.append(f"- **{view.name}** on step {first + 1}, in its own words: "
                         f"{quote(strip_calculator(vote.rationale))}")
    why = dispute_reasons(item.consensus, views, len(item.solution.steps))
    legend = [P_LEGEND] if strategies else []
    return "\n\n".join(["\n".join(rows), *why, *legend] + (["\n".join(notes)] if notes else []))
