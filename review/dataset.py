"""The Argilla dataset of disputed solutions: its settings and how a solution becomes a record.

A record shows the problem, the numbered steps with every annotator's verdict right under each
step (so the reviewer never scrolls between the two), then a table of the verdicts with the
consensus per strategy and the annotators' reasons. GSM8K calculator annotations
(``<<12+5=17>>``) are shown as their result; labels an MC annotator inferred from another step
(not tested by rollouts) are marked "inferred".

A human label is only what a human set. Argilla's UI opens a record nobody answered with its
form pre-filled from the record's suggestions, and a submit sends every pre-filled value as the
reviewer's: an untouched "every wrong step" question would come back holding the annotators'
ticks. So records carry **no suggestions**; the annotators' plurality answer (and who gave it:
only annotators with a labeled vote) is text above the verdicts table, and the form starts empty.

Questions:

- ``first_error`` (required): "No error" or "Step k", the earliest wrong step (ProcessBench).
- ``wrong_steps`` (optional): every wrong step, for per-step labels beyond the first error.

Both questions open with a "none" choice, so "Step k" has the same number key (k + 1) in both.
Argilla 2.8 cannot vary a question's labels per record, so records are grouped into one dataset
per step count, ``<dataset>-<n>-steps``, whose questions offer exactly Step 1..n: a reviewer is
never offered a step the solution does not have. (A dataset named ``<dataset>`` itself is the
one-dataset layout of stepforge before issue 26: its records stay there, and ``review pull``
still rejects an answer in it naming a step past the solution's last.)
- ``comment`` (optional): free text.

Record ids are solution ids, so pushing twice never duplicates a record.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from review.explain import P_CORRECT, P_LEGEND, dispute_reasons, grade_text, quote
from schemas.records import Consensus, Problem, Solution, StepVote

NO_ERROR = "no_error"
NO_WRONG_STEP = "none"  # wrong_steps' first choice: keeps Step k on key k + 1 as in first_error
FIRST_ERROR = "first_error"
WRONG_STEPS = "wrong_steps"
COMMENT = "comment"
CELL_PAD = "&emsp;"
UNSETTLED = ("disputed", "single-source")  # consensus statuses a human decides

GUIDELINES = """\
Each record is a model-written solution whose automatic step labels disagree, or rest on one
annotator alone (single-source: no second annotator could check them).

1. Read the problem and the numbered steps.
2. **First wrong step**: the earliest step containing an error (a wrong calculation, a false
   claim, a misread of the problem, or a step that does not follow from the previous ones).
   Pick **No error** when every step is correct. Later steps that merely carry an earlier error
   forward do not move the first error.
3. Optionally tick **every** wrong step, and leave a comment. In both questions key 1 is
   "none" and key k + 1 is Step k. Every solution of this dataset has the same number of
   steps (the dataset's name says how many), and those are the steps offered.

Under each step, and in the *Verdicts* panel, you see what each automatic annotator said per
step (✓ correct, ✗ wrong, ? unparsed, – skipped; the number is its probability that the step is
correct) and the consensus (⚠ disputed; ⚠ single-source: one annotator's label, unchecked).
"inferred" marks an MC label deduced from another step rather than tested by rollouts. Nothing
is pre-selected: the annotators' answer is shown as text, and only what you select is stored as
your label (a question you leave empty stays unanswered).
Submit when done, *Discard* a record you cannot judge (a broken problem, unreadable steps).
"""


def step_label(index: int) -> str:
    """The label value of 0-based step ``index`` ("step_1" for the first step)."""
    return f"step_{index + 1}"


def label_index(value: str) -> int:
    """A first-error label value back to a 0-based step index (-1 for no error / none)."""
    if value in (NO_ERROR, NO_WRONG_STEP):
        return -1
    if not value.startswith("step_") or not value[5:].isdigit() or int(value[5:]) < 1:
        raise ValueError(f"not a step label: {value!r}")
    return int(value[5:]) - 1


def dataset_name(base: str, n_steps: int) -> str:
    """The dataset holding the solutions of ``n_steps`` steps: ``stepforge-disputed-4-steps``."""
    return f"{base}-{n_steps}-steps"


def group_steps(base: str, name: str) -> int | None:
    """The step count of a dataset of ``base``'s group (0: the one-dataset layout named ``base``,
    which offers every record the same steps), None for a dataset outside the group."""
    if name == base:
        return 0
    found = re.fullmatch(re.escape(base) + r"-(\d+)-steps", name)
    return int(found.group(1)) if found else None


def question_labels(n_steps: int) -> tuple[dict[str, str], dict[str, str]]:
    """The labels of the first-error and wrong-steps questions: each opens with its "none"
    choice, so Step k is number key k + 1 in both."""
    steps = {step_label(i): f"Step {i + 1}" for i in range(n_steps)}
    return {NO_ERROR: "No error", **steps}, {NO_WRONG_STEP: "None", **steps}


def visible(n_labels: int, visible_labels: int) -> int | None:
    """Labels shown before Argilla's "+k more": every one up to ``visible_labels`` (Argilla
    takes 3 to the number of labels, None below 3)."""
    return None if n_labels < 3 else max(3, min(visible_labels, n_labels))


def build_settings(n_steps: int, visible_labels: int, min_submitted: int, client: Any) -> Any:
    """The Argilla settings of a review dataset whose questions offer Step 1..``n_steps``."""
    import argilla as rg

    first_labels, wrong_labels = question_labels(n_steps)
    return rg.Settings(
        guidelines=GUIDELINES,
        fields=[
            rg.TextField(name="problem", title="Problem", use_markdown=True, client=client),
            rg.TextField(name="solution", title="Solution steps", use_markdown=True, client=client),
            rg.TextField(name="verdicts", title="Verdicts per step, consensus and reasons",
                         use_markdown=True, required=False, client=client),
        ],
        questions=[
            rg.LabelQuestion(
                name=FIRST_ERROR, title="First wrong step", required=True,
                labels=first_labels, visible_labels=visible(len(first_labels), visible_labels),
                client=client,
                description="The earliest step that is wrong; 'No error' if all steps are right."),
            rg.MultiLabelQuestion(
                name=WRONG_STEPS, title="Every wrong step (optional)", required=False,
                labels=wrong_labels, visible_labels=visible(len(wrong_labels), visible_labels),
                client=client,
                description="Tick each wrong step, for per-step labels after the first error."),
            rg.TextQuestion(name=COMMENT, title="Comment (optional)", required=False, client=client),
        ],
        metadata=[
            rg.TermsMetadataProperty(name="solution_id", title="Solution id", client=client),
            rg.TermsMetadataProperty(name="problem_id", title="Problem id", client=client),
            rg.TermsMetadataProperty(name="strategy", title="Disputed under", client=client),
            rg.TermsMetadataProperty(name="annotators", title="Annotators", client=client),
            rg.TermsMetadataProperty(name="generator", title="Generator", client=client),
            rg.TermsMetadataProperty(name="graded", title="Final answer graded", client=client),
            rg.FloatMetadataProperty(name="agreement", title="Annotator agreement", client=client),
            rg.FloatMetadataProperty(name="priority", title="Review priority", client=client),
            rg.IntegerMetadataProperty(name="n_steps", title="Steps", client=client),
        ],
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
    )


@dataclass
class AnnotatorView:
    """One annotator's verdicts on one solution: per-step (status, label, score, rationale)."""

    name: str
    steps: dict[int, StepVote] = field(default_factory=dict)

    def first_error(self) -> int | None:
        """0-based first step labelled wrong, -1 when none is, None when nothing was labeled."""
        labeled = [v for v in self.steps.values() if v.status == "labeled"]
        if not labeled:
            return None
        wrong = [v.step_index for v in labeled if v.label == 0]
        return min(wrong) if wrong else -1


@dataclass
class Disputed:
    """A disputed solution with everything its record shows."""

    solution: Solution
    problem: Problem | None
    votes: list[StepVote]
    consensus: list[Consensus]
    priority: float = 0.0

    @property
    def strategies(self) -> list[str]:
        return sorted({c.strategy for c in self.consensus if c.status in UNSETTLED})

    def annotators(self) -> list[AnnotatorView]:
        """Votes grouped per annotator configuration; names disambiguated when one annotator ran
        with several versions or configs."""
        groups: dict[tuple[str, str, str], AnnotatorView] = {}
        for vote in sorted(self.votes, key=lambda v: v.created_at):
            key = (vote.annotator, vote.annotator_version, vote.config_hash)
            groups.setdefault(key, AnnotatorView(vote.annotator)).steps[vote.step_index] = vote
        names = Counter(k[0] for k in groups)
        for (name, version, config), view in groups.items():
            if names[name] > 1:
                view.name = f"{name}@{version}" + (f"/{config[:6]}" if config else "")
        return sorted(groups.values(), key=lambda v: v.name)


def plurality_first_error(views: Sequence[AnnotatorView]) -> tuple[int, list[str], float] | None:
    """The first error most annotators name (ties: the earliest), who names it, and their share."""
    claims = {v.name: v.first_error() for v in views if v.first_error() is not None}
    if not claims:
        return None
    counts = Counter(claims.values())
    best = max(counts.values())
    winner = min((k for k, c in counts.items() if c == best), key=lambda k: (k < 0, k))
    backers = sorted(n for n, k in claims.items() if k == winner)
    return winner, backers, best / len(claims)


def wrong_step_shares(views: Sequence[AnnotatorView], n_steps: int) -> dict[int, float]:
    """Per step, the share of labeled votes calling it wrong (steps nobody labeled left out)."""
    shares = {}
    for i in range(n_steps):
        labels = [v.steps[i].label for v in views if i in v.steps and v.steps[i].status == "labeled"]
        if labels:
            shares[i] = sum(1 for label in labels if label == 0) / len(labels)
    return shares


def wrong_by_majority(views: Sequence[AnnotatorView], n_steps: int) -> tuple[list[int], list[str]]:
    """The steps most labeled votes call wrong, and the annotators whose labeled vote calls one
    of them wrong (an annotator that skipped or could not be parsed backs nothing)."""
    shares = wrong_step_shares(views, n_steps)
    steps = [i for i, share in sorted(shares.items()) if share > 0.5]
    backers = sorted({v.name for v in views for i in steps
                      if i in v.steps and v.steps[i].status == "labeled" and v.steps[i].label == 0})
    return steps, backers


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


def _md(text: str) -> str:
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
        lines.append(f"**Step {i + 1}.** {_md(step)}" + (f"\n> {verdicts}" if verdicts else ""))
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


def build_record(item: Disputed) -> Any:
    """The Argilla record of a disputed solution (id = solution id), without suggestions: a
    suggestion would pre-fill the reviewer's form and come back as the reviewer's answer."""
    import argilla as rg

    sol = item.solution
    views = item.annotators()
    plural = plurality_first_error(views)
    agreement = plural[2] if plural is not None else 0.0
    metadata = {
        "solution_id": sol.solution_id, "problem_id": sol.problem_id,
        "strategy": item.strategies or ["-"], "annotators": [v.name for v in views] or ["-"],
        "generator": sol.generator,
        "graded": {True: "correct", False: "incorrect", None: "ungraded"}[sol.is_correct],
        "agreement": round(agreement, 4), "priority": float(item.priority), "n_steps": len(sol.steps),
    }
    question = item.problem.question if item.problem else f"(problem {sol.problem_id} not in the lake)"
    verdicts = annotators_answer(views, len(sol.steps)) + "\n\n" + render_verdicts(item, views)
    return rg.Record(
        id=sol.solution_id,
        fields={"problem": _md(question), "solution": render_solution(item, views),
                "verdicts": verdicts},
        metadata=metadata,
    )
