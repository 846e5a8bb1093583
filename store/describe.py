"""What every table and view of the lake's catalog holds: its meaning, its columns, an example
query, and why it is empty when the reason is known.

One source for ``stepforge sql --describe VIEW`` and docs/sql.md (``python -m store.describe``
writes the page), so the help and the docs cannot drift apart; a test checks that every view
and column of the catalog is described here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, TYPE_CHECKING

if TYPE_CHECKING:
    from store.lake import Lake


@dataclass(frozen=True)
class ViewDoc:
    meaning: str
    columns: dict[str, str]
    example: str
    empty_when: Callable[[Any], str | None] | None = field(default=None, compare=False)


def _count(lake: Lake, sql: str) -> int:
    return int(lake.query(sql).column(0)[0].as_py() or 0)


def _needs_votes(lake: Lake) -> str | None:
    if not _count(lake, "SELECT count(*) FROM step_votes"):
        return "no step votes yet: run `stepforge annotate`"
    return None


def _needs_labeled(lake: Lake) -> str | None:
    if (why := _needs_votes(lake)) is not None:
        return why
    if not _count(lake, "SELECT count(*) FROM step_votes WHERE status = 'labeled'"):
        return "no vote is labeled (every vote is unparsed or skipped): see vote_costs"
    return None


def _needs_two_annotators(lake: Lake) -> str | None:
    if (why := _needs_labeled(lake)) is not None:
        return why
    names = _count(lake, "SELECT count(DISTINCT annotator) FROM annotator_labels "
                   "WHERE label IS NOT NULL")
    if names < 2:
        return (f"agreement needs two annotators with labels on the same step; {names} annotator "
                "has labels (annotate with a second one, e.g. --annotators mc-binary,judge)")
    return "no step is labeled by two annotators at once"


def _no_disagreement(lake: Lake) -> str | None:
    if _count(lake, "SELECT count(*) FROM annotator_agreement"):
        return "the annotators agree on every step they both labeled"
    return _needs_two_annotators(lake)


def _needs_consensus(lake: Lake) -> str | None:
    if not _count(lake, "SELECT count(*) FROM consensus"):
        return "no consensus rows yet: run `stepforge reconcile` (after annotate)"
    return None


def _needs_reviews(_lake: Lake) -> str | None:
    return "no human review pulled yet: `stepforge review push`, then `stepforge review pull`"


def _needs_rows(table: str, command: str) -> Callable[[Any], str | None]:
    return lambda _lake: f"no {table} yet: {command}"


_SOL = "the solution (solutions.solution_id)"
_STEP = "0-based index of the step in solutions.steps"
_ANN = "annotator name (mc-binary, judge, spare, spark, ...)"
_TOK = "tokens"

DOCS: dict[str, ViewDoc] = {
    "problems": ViewDoc(
        "One row per problem (question and reference answer), from `stepforge ingest`.",
        {"problem_id": "content id of the question", "question": "the problem text",
         "reference_answer": "gold final answer (NULL: unknown, solutions stay ungraded)",
         "reference_solution": "gold worked solution (SPARE reads it), may be NULL",
         "source": "where it came from (file or Hub dataset)",
         "metadata": "JSON text: extra fields of the source row"},
        "SELECT source, count(*) FROM problems GROUP BY source",
        _needs_rows("problems", "`stepforge ingest FILE`")),
    "solutions": ViewDoc(
        "One row per model-written (or ingested) solution, split into steps and graded.",
        {"solution_id": "content id of (problem, generator, text)",
         "problem_id": "the problem (problems.problem_id)",
         "generator": "model or file that wrote it", "text": "the whole solution text",
         "steps": "the steps (list of text), as labelled", "final_answer": "extracted final answer",
         "is_correct": "final answer matches the reference (NULL: not graded, e.g. cut off)",
         "finish_reason": "stop (ended itself), length (cut off at max_tokens: not graded, not "
                          "searched as wrong) or given (ingested text)",
         "split_method": "how the text was split into steps",
         "prompt_tokens": _TOK + " of the generation prompt",
         "completion_tokens": _TOK + " generated", "metadata": "JSON text: extra fields"},
        "SELECT generator, count(*), avg(is_correct::INT) FROM solutions GROUP BY generator",
        _needs_rows("solutions", "`stepforge generate` or `stepforge ingest FILE --kind solutions`")),
    "step_votes": ViewDoc(
        "One row per (solution, step, annotator run): a label with its status, score, "
        "provenance and cost.",
        {"vote_id": "content id of the vote", "solution_id": _SOL, "step_index": _STEP,
         "annotator": _ANN, "annotator_version": "version of the annotator's logic",
         "config_hash": "hash of the annotator's config", "model": "model behind the vote",
         "status": "labeled, unparsed (verdict unreadable) or skipped (with a reason)",
         "label": "1 correct, 0 wrong; NULL unless status is labeled",
         "score": "soft score (MC success fraction, judge probability), may be NULL",
         "rationale": "the model's text or the skip reason",
         "details": "JSON text: method-specific facts (rollouts, provenance, reason)",
         "prompt_tokens": _TOK + " read", "completion_tokens": _TOK + " generated",
         "rollouts": "MC rollouts spent", "created_at": "when the vote was stored (UTC)"},
        "SELECT annotator, status, count(*) FROM step_votes GROUP BY ALL ORDER BY ALL",
        _needs_votes),
    "consensus": ViewDoc(
        "The latest reconciled label per (solution, step, strategy).",
        {"consensus_id": "content id (includes the inputs' hash)", "solution_id": _SOL,
         "step_index": _STEP, "strategy": "consensus, majority, unanimous, dawid-skene or a variant",
         "status": "agreed (two annotators' labeled votes back it), disputed (no label), human "
         "(a reviewer decided) or single-source (one annotator's labeled vote alone: kept with "
         "its label, not agreed; details.single_source says why)",
         "label": "1 correct, 0 wrong; NULL when disputed",
         "probability": "probability the step is correct (vote share, MC fraction, posterior)",
         "annotators": "annotators whose votes were used",
         "priority": "review priority of a disputed solution (higher first)",
         "inputs_hash": "hash of the votes and reviews used",
         "details": "JSON text: per-strategy facts (first errors of the MC and judge roles, "
                    "votes, unparsed, skipped)",
         "created_at": "when the row was written (UTC)"},
        "SELECT strategy, status, count(*) FROM consensus GROUP BY ALL ORDER BY ALL",
        _needs_consensus),
    "reviews": ViewDoc(
        "The latest human review per (solution, reviewer), pulled from Argilla.",
        {"review_id": "content id", "solution_id": _SOL, "reviewer": "Argilla user name",
         "status": "submitted or discarded", "first_error": "first wrong step (-1: none)",
         "step_labels": "per-step labels when the reviewer ticked them",
         "comment": "the reviewer's note", "dataset": "Argilla dataset it came from",
         "reviewed_at": "when the reviewer answered", "created_at": "when it was stored"},
        "SELECT reviewer, status, count(*) FROM reviews GROUP BY ALL",
        _needs_reviews),
    "steps": ViewDoc(
        "One row per solution step, with the step text and the solution's grade.",
        {"solution_id": _SOL, "problem_id": "the problem", "generator": "who wrote it",
         "step_index": _STEP, "step": "the step text", "n_steps": "steps in the solution",
         "is_last": "whether it is the final step", "is_correct": "the solution's grade",
         "final_answer": "the solution's final answer"},
        "SELECT n_steps, count(DISTINCT solution_id) FROM steps GROUP BY n_steps ORDER BY n_steps",
        _needs_rows("solutions", "`stepforge generate` or `stepforge ingest FILE --kind solutions`")),
    "vote_costs": ViewDoc(
        "Cost and health per annotator configuration: votes by status, tokens and rollouts.",
        {"annotator": _ANN, "annotator_version": "version", "config_hash": "config hash",
         "model": "model", "votes": "all votes", "solutions": "solutions voted on",
         "labeled": "votes with a label", "unparsed": "votes whose verdict was unreadable",
         "skipped": "votes skipped with a reason", "prompt_tokens": _TOK + " read",
         "completion_tokens": _TOK + " generated", "total_tokens": "both",
         "rollouts": "MC rollouts", "tokens_per_vote": "total tokens / votes",
         "tokens_per_solution": "total tokens / solutions",
         "first_vote_at": "first vote stored", "last_vote_at": "last vote stored"},
        "SELECT annotator, votes, labeled, unparsed, skipped, total_tokens FROM vote_costs",
        _needs_votes),
    "annotator_labels": ViewDoc(
        "The vote that counts per (solution, step, annotator): the newest run of the annotator "
        "on the solution wins, whatever its status (a run: one annotator_version and "
        "config_hash; older runs' votes stay in step_votes); label is NULL unless it is labeled.",
        {"solution_id": _SOL, "step_index": _STEP, "annotator": _ANN,
         "annotator_version": "version", "config_hash": "config hash", "model": "model",
         "status": "labeled, unparsed or skipped", "label": "1/0, NULL unless labeled",
         "score": "soft score", "vote_id": "the vote (step_votes.vote_id)",
         "created_at": "when it was stored"},
        "SELECT annotator, status, count(*), avg(label) FROM annotator_labels GROUP BY ALL",
        _needs_votes),
    "step_labels_wide": ViewDoc(
        "One row per step: annotator -> label / score / status maps and counts.",
        {"solution_id": _SOL, "step_index": _STEP,
         "labels": "map annotator -> label (labeled votes only)",
         "scores": "map annotator -> score (labeled votes only)",
         "statuses": "map annotator -> status", "n_labeled": "annotators with a label",
         "n_positive": "labels 1", "n_negative": "labels 0", "n_unparsed": "unparsed votes",
         "n_skipped": "skipped votes"},
        "SELECT solution_id, step_index, labels['judge'] AS judge, labels['mc-binary'] AS mc "
        "FROM step_labels_wide",
        _needs_votes),
    "disagreements": ViewDoc(
        "Steps whose labeled votes differ, with who said what and the step text.",
        {"solution_id": _SOL, "step_index": _STEP, "n_labeled": "annotators with a label",
         "n_positive": "labels 1", "n_negative": "labels 0",
         "says_correct": "annotators labelling it 1", "says_wrong": "annotators labelling it 0",
         "step": "the step text", "n_steps": "steps in the solution",
         "is_correct": "the solution's grade"},
        "SELECT says_correct, says_wrong, count(*) FROM disagreements GROUP BY ALL",
        _no_disagreement),
    "annotator_first_errors": ViewDoc(
        "Per (solution, annotator): the first step labelled 0 (-1: none); NULL when an earlier "
        "step has no label from that annotator.",
        {"solution_id": _SOL, "annotator": _ANN, "first_error": "first wrong step, -1 none, NULL "
         "unknown", "labeled": "steps it labeled", "n_steps": "steps in the solution"},
        "SELECT annotator, count(first_error) AS located, count(*) FROM annotator_first_errors "
        "GROUP BY annotator",
        _needs_labeled),
    "annotator_agreement": ViewDoc(
        "Pairwise agreement: Cohen's kappa on the steps both labeled, and how often they put "
        "the first error on the same step.",
        {"annotator_a": "first annotator (alphabetical)", "annotator_b": "second annotator",
         "steps": "steps both labeled", "observed": "share of those steps with the same label",
         "expected": "agreement expected by chance",
         "kappa": "Cohen's kappa (NULL when chance agreement is 1)",
         "solutions": "solutions where both locate a first error",
         "first_error_rate": "share of those with the same first error"},
        "SELECT annotator_a, annotator_b, steps, round(kappa, 2) AS kappa FROM annotator_agreement",
        _needs_two_annotators),
    "retention": ViewDoc(
        "Per strategy: solutions kept (every step agreed or human), by machines alone, with "
        "human help, not kept (a disputed or single-source step); and the same at step level.",
        {"strategy": "consensus strategy", "solutions": "solutions with consensus rows",
         "kept": "solutions whose every step is agreed or human",
         "agreed": "kept without a human label", "human": "kept with a human label",
         "disputed": "not kept", "kept_share": "kept / solutions",
         "agreed_share": "agreed / solutions", "steps": "steps", "steps_agreed": "agreed steps",
         "steps_human": "human-labelled steps", "steps_disputed": "disputed steps",
         "steps_single_source": "single-source steps (one annotator's vote alone, not agreed)"},
        "SELECT strategy, solutions, kept, round(kept_share, 3) AS kept_share FROM retention",
        _needs_consensus),
    "labels_by_position": ViewDoc(
        "Consensus labels by step position, per strategy (the report's label plot).",
        {"strategy": "consensus strategy", "step_index": _STEP, "steps": "steps at this position",
         "agreed_correct": "agreed 1", "agreed_wrong": "agreed 0", "human_correct": "human 1",
         "human_wrong": "human 0", "disputed": "disputed",
         "single_source": "single-source (one annotator's vote alone)"},
        "SELECT step_index, agreed_correct, agreed_wrong, disputed FROM labels_by_position "
        "WHERE strategy = 'consensus'",
        _needs_consensus),
    "annotator_costs": ViewDoc(
        "What one labeled step costs per annotator (all votes' tokens over the labeled ones).",
        {"annotator": _ANN, "votes": "all votes", "labeled": "labeled votes",
         "tokens": "prompt + completion tokens of all votes", "rollouts": "MC rollouts",
         "tokens_per_labeled_step": "tokens / labeled votes (NULL: none labeled)",
         "rollouts_per_labeled_step": "rollouts / labeled votes",
         "truncated_rollouts": "MC rollouts cut off at max_tokens (neither success nor failure)",
         "truncated_share": "truncated_rollouts / rollouts (NULL: no rollouts)"},
        "SELECT annotator, labeled, round(tokens_per_labeled_step) FROM annotator_costs",
        _needs_votes),
    "label_provenance": ViewDoc(
        "Per strategy, where the MC evidence of its labelled consensus steps came from: measured "
        "by rollouts, inferred (a correct solution's steps, steps after a found error), no MC "
        "vote, or a human review.",
        {"strategy": "consensus strategy",
         "labels": "agreed and human consensus rows (single-source rows are not labels)",
         "measured": "labels whose MC evidence was measured by rollouts",
         "inferred": "labels whose MC evidence was inferred without rollouts",
         "no_mc": "labels with no MC vote behind them", "human": "labels set by a human review",
         "measured_share": "measured / labels", "inferred_share": "inferred / labels"},
        "SELECT strategy, labels, round(measured_share, 2) AS measured FROM label_provenance",
        _needs_consensus),
}


def columns(lake: Lake, name: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of a catalog view."""
    rows = lake.query(f'DESCRIBE "{name}"').to_pylist()
    return [(r["column_name"], r["column_type"]) for r in rows]


def describe(lake: Lake, name: str) -> str:
    """Meaning, columns (type and meaning), row count, example query and, when it holds no row,
    why (where the reason is known) of the view ``name``."""
    names = [n for n, _ in lake.views()]
    if name not in names:
        raise ValueError(f"no table or view named {name!r} (try: {', '.join(names)})")
    doc = DOCS.get(name)
    rows = _count(lake, f'SELECT count(*) FROM "{name}"')
    lines = [f"{name}: {doc.meaning if doc else '(not documented)'}", f"rows: {rows}"]
    if not rows and doc and doc.empty_when and (why := doc.empty_when(lake)):
        lines.append(f"empty because: {why}")
    cols = columns(lake, name)
    width = max(len(c) for c, _ in cols)
    kinds = max(len(t) for _, t in cols)
    lines.append("columns:")
    for col, kind in cols:
        meaning = doc.columns.get(col, "") if doc else ""
        lines.append(f"  {col.ljust(width)}  {kind.ljust(kinds)}  {meaning}".rstrip())
    if doc:
        lines.append(f"example: stepforge sql \"{doc.example}\"")
    return "\n".join(lines)


def markdown(lake: Lake) -> str:
    """docs/sql.md: every table and view with its columns, meaning and an example query."""
    from schemas.tables import TABLES

    out = [
        "# Querying the lake with SQL",
        "",
        "`stepforge sql \"...\"` runs read-only DuckDB SQL over the lake's catalog "
        "(`--format csv|json|parquet`, `--out FILE`). `stepforge sql --tables` lists every "
        "table and view with its row count; `stepforge sql --describe VIEW` prints what a view "
        "holds, its columns and an example, and, when it is empty, why.",
        "",
        "Tables hold the stored rows (deduplicated by id; `consensus` and `reviews` keep the "
        "latest row per key). Views are computed from them on every query. JSON text columns "
        "(`metadata`, `details`) read with DuckDB's JSON operators: `details->>'reason'`.",
        "",
        "This page is generated from `store/describe.py` (`python -m store.describe > "
        "docs/sql.md`).",
    ]
    for name, _ in lake.views():
        doc = DOCS.get(name)
        kind = "table" if name in TABLES else "view"
        out += ["", f"## `{name}` ({kind})", "", doc.meaning if doc else "(not documented)", "",
                "| column | type | meaning |", "| --- | --- | --- |"]
        for col, typ in columns(lake, name):
            meaning = (doc.columns.get(col, "") if doc else "").replace("|", "\\|")
            out.append(f"| `{col}` | {typ} | {meaning} |")
        if doc:
            out += ["", "```sql", doc.example, "```"]
    return "\n".join(out) + "\n"


def main() -> None:
    import tempfile

    from store.lake import Lake

    with tempfile.TemporaryDirectory() as root:  # an empty lake: the catalog's views only
        lake = Lake(root)
        sys.stdout.write(markdown(lake))


if __name__ == "__main__":
    main()
