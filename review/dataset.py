"""The Argilla dataset of disputed solutions: its settings and how a solution becomes a record.

A record shows the problem, the numbered steps with every annotator's verdict right under each
step (so the reviewer never scrolls between the two), then a table of the verdicts with the
consensus per strategy and the annotators' reasons. GSM8K calculator annotations
(``<<12+5=17>>``) are shown as their result; labels an MC annotator inferred from another step
(not tested by rollouts) are marked "inferred". The record's text is written by ``review.render``
from a ``review.disputed.Disputed``.

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
from typing import Any

from review.disputed import Disputed, plurality_first_error
from review.render import annotators_answer, render_solution, render_verdicts, safe_markdown

NO_ERROR = "no_error"
NO_WRONG_STEP = "none"  # wrong_steps' first choice: keeps Step k on key k + 1 as in first_error
FIRST_ERROR = "first_error"
WRONG_STEPS = "wrong_steps"
COMMENT = "comment"

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
        fields={"problem": safe_markdown(question), "solution": render_solution(item, views),
                "verdicts": verdicts},
        metadata=metadata,
    )
