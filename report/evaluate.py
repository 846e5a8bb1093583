"""Label quality against gold: read a gold file, match its cases to lake solutions, score each
annotator (and each consensus strategy) with ``report.metrics``.

Gold forms, detected per row (or forced with ``gold_format``):
- ``processbench``: problem, steps, label (earliest wrong step, -1 none) [, final_answer_correct].
  Steps after the gold error are not judged (ProcessBench does not label them).
- ``steps``: problem, steps and per-step ``step_labels`` (1/0/null) or ``ratings`` (PRM800K's
  -1/0/1; -1 is wrong, 0 and 1 are correct).
- ``prm800k``: PRM800K's own rows (question.problem, question.pre_generated_steps or the chosen
  completions, label.steps[].completions[].rating).
- ``outcome``: whether the final answer is right (is_correct / final_answer_correct next to a
  solution text or steps; or the GSM8K GPT-3 file with per-generator {is_correct, solution}).
  Only the outcome metrics apply: a correct solution must get "no error", a wrong one some error.

A gold case matches a lake solution by content: the problem id (from the normalised problem
text) plus the normalised steps, else plus the normalised solution text; a generator given by the
gold breaks ties. Solutions ingested from the same file (``stepforge ingest --kind
processbench``) or exported by ``stepforge export --format processbench`` always match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from report import metrics
from ingest import readers
from ingest.readers.fields import MAX_CHARS
from schemas import RecordError
from schemas.ids import normalize_text, stable_id
from store.lake import Lake

GoldKind = Literal["processbench", "steps", "outcome"]
STEP_METRICS = ["processbench_f1", "acc_error", "first_error_match", "step_precision",
                "step_recall", "step_f1"]


class EvalConfig(BaseModel):
    """What to evaluate against which gold. Loaded from flags (and an ``eval:`` YAML section)."""

    model_config = ConfigDict(extra="forbid")

    gold: str | None = Field(None, description="gold file (.jsonl/.json/.parquet) or a folder of "
                             "them (e.g. a `stepforge export --format processbench` folder)")
    gold_format: Literal["auto", "processbench", "steps", "prm800k", "outcome"] = Field(
        "auto", description="gold form; auto detects it per row")
    labels: Literal["annotator", "consensus", "all"] = Field(
        "all", description="score each annotator's votes, each consensus strategy, or both")
    annotators: list[str] | None = Field(None, description="annotators to score (default: all)")
    strategy: list[str] | None = Field(None, description="consensus strategies to score "
                                       "(default: all)")
    statuses: list[Literal["agreed", "human"]] = Field(
        default_factory=lambda: ["agreed", "human"],
        description="consensus statuses that count as labels (disputed steps are unlabelled)")
    human_override: bool = Field(True, description="consensus: a step with a human row under any "
                                 "strategy takes the latest human label (as the export does)")
    json_path: str | None = Field(None, description="also write the results as JSON here (for CI)")
    max_chars: int = Field(MAX_CHARS, ge=1, description="longest text field accepted in the gold "
                           "(a problem, solution or step); a longer one is an error naming the row")
    fail_below: float | None = Field(None, ge=0.0, le=100.0, description="exit with status 1 "
                                     "when a row's F1 (x100; outcome F1 for outcome gold) is lower")


@dataclass
class GoldCase:
    """One gold solution and what the gold says about it."""

    where: str
    kind: GoldKind
    problem_id: str
    steps: tuple[str, ...] | None = None
    text: str | None = None
    generator: str | None = None
    step_labels: list[int | None] | None = None
    first_error: int | None = None
    outcome: bool | None = None  # final answer right; for step gold: "no error"
    solution_id: str | None = None  # the matched lake solution
    n_steps: int = 0


# -- gold --------------------------------------------------------------------------------------

def gold_files(path: str | Path) -> list[Path]:
    """The file itself, or every .jsonl/.json/.parquet under a folder (sorted)."""
    return readers.input_files(path)


def gold_rows(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    return readers.file_rows(path)


def _problem_id(text: str) -> str:
    return stable_id("problem", normalize_text(text))


def step_case(gold: readers.StepGold, kind: GoldKind) -> GoldCase:
    """A case with step gold (ProcessBench's first error, or per-step labels)."""
    if gold.first_error is not None:
        labels = metrics.gold_step_labels(gold.first_error, len(gold.steps))
        first, outcome = gold.first_error, gold.first_error == -1
    else:
        labels = gold.step_labels
        first = metrics.first_error_of(labels)
        outcome = None if first is None else first == -1
    return GoldCase(gold.where, kind, _problem_id(gold.question), tuple(gold.steps),
                    generator=gold.generator, step_labels=labels, first_error=first, outcome=outcome)


def processbench_case(where: str, row: dict, max_chars: int | None = MAX_CHARS) -> GoldCase:
    cols = readers.Columns("processbench", max_chars=max_chars)
    return step_case(readers.processbench(where, row, cols), "processbench")


def steps_case(where: str, row: dict, max_chars: int | None = MAX_CHARS) -> GoldCase:
    return step_case(readers.step_ratings(where, row, max_chars), "steps")


def prm800k_case(where: str, row: dict, max_chars: int | None = MAX_CHARS) -> GoldCase:
    return step_case(readers.prm800k(where, row, max_chars), "steps")


def outcome_cases(where: str, row: dict, max_chars: int | None = MAX_CHARS) -> list[GoldCase]:
    """Final-answer gold: a solution (text or steps) with its verdict, or a GPT-3 file row."""
    if readers.is_gpt3_row(row):
        read = readers.gpt3(where, row, max_chars)
        pid = _problem_id(read.question)
        return [GoldCase(sol.where, "outcome", pid, text=sol.text, generator=sol.generator,
                         outcome=bool(sol.is_correct)) for sol in read.solutions]
    sol = readers.solution(where, row, readers.Columns("solutions", max_chars=max_chars))
    if sol.question is None:
        raise RecordError(where, "question", "the problem text is missing or empty")
    if sol.is_correct is None:
        raise RecordError(where, "is_correct", "expected true/false, got None")
    return [GoldCase(where, "outcome", _problem_id(sol.question),
                     tuple(sol.steps) if sol.steps else None, sol.text, sol.generator,
                     outcome=sol.is_correct)]


READERS = {"processbench": processbench_case, "steps": steps_case, "prm800k": prm800k_case}


detect = readers.detect


def read_gold(path: str | Path, gold_format: str = "auto",
              max_chars: int | None = MAX_CHARS) -> list[GoldCase]:
    """Every gold case of the file(s); a malformed row raises RecordError naming it."""
    cases: list[GoldCase] = []
    for where, row in gold_rows(path):
        kind = detect(row) if gold_format == "auto" else gold_format
        if kind in READERS:
            cases.append(READERS[kind](where, row, max_chars))
        else:
            cases += outcome_cases(where, row, max_chars)
    if not cases:
        raise RecordError(str(path), None, "no gold cases")
    return cases


# -- matching ----------------------------------------------------------------------------------

def _steps_key(problem_id: str, steps: tuple[str, ...] | list[str]) -> tuple:
    return (problem_id, tuple(normalize_text(s) for s in steps))


def match(lake: Lake, cases: list[GoldCase]) -> list[GoldCase]:
    """Set ``solution_id`` / ``n_steps`` of the cases found in the lake; returns those."""
    con = lake.connect()
    try:
        con.register("gold_problems", pa.table({"problem_id": sorted({c.problem_id for c in cases})}))
        rows = con.sql("SELECT solution_id, problem_id, generator, text, steps FROM solutions "
                       "WHERE problem_id IN (SELECT problem_id FROM gold_problems) "
                       "ORDER BY solution_id").to_arrow_table().to_pylist()
    finally:
        con.close()
    by_steps: dict[tuple, list[dict]] = {}
    by_text: dict[tuple, list[dict]] = {}
    for row in rows:
        by_steps.setdefault(_steps_key(row["problem_id"], row["steps"]), []).append(row)
        by_text.setdefault((row["problem_id"], normalize_text(row["text"])), []).append(row)
    matched = []
    for case in cases:
        found = by_steps.get(_steps_key(case.problem_id, case.steps), []) if case.steps else []
        if not found and case.text is not None:
            found = by_text.get((case.problem_id, normalize_text(case.text)), [])
        if found:
            same = [r for r in found if r["generator"] == case.generator]
            chosen = (same or found)[0]
            case.solution_id, case.n_steps = chosen["solution_id"], len(chosen["steps"])
            if case.step_labels is not None and len(case.step_labels) != case.n_steps:
                continue  # step gold of another split of the text: not comparable
            matched.append(case)
    return matched


# -- predictions and scores ---------------------------------------------------------------------

@dataclass
class Labeller:
    """Step labels of one annotator configuration or one consensus strategy on the matched
    solutions, and what its votes cost."""

    kind: Literal["annotator", "consensus"]
    name: str
    labels: dict[str, dict[int, int]] = field(default_factory=dict)  # solution -> step -> label
    tokens: int = 0
    labeled_steps: int = 0


def _annotator_labellers(con: Any, config: EvalConfig) -> list[Labeller]:
    only = "AND annotator IN (SELECT * FROM unnest(?))" if config.annotators else ""
    params = [config.annotators] if config.annotators else []
    votes = con.sql(f"""
        SELECT solution_id, step_index, annotator, annotator_version, config_hash, label
        FROM step_votes JOIN matched USING (solution_id) WHERE status = 'labeled' {only}
        QUALIFY row_number() OVER (PARTITION BY solution_id, step_index, annotator,
            annotator_version, config_hash ORDER BY created_at DESC, vote_id DESC) = 1""",
                    params=params).to_arrow_table().to_pylist()
    costs = con.sql(f"""
        SELECT annotator, annotator_version, config_hash,
               sum(prompt_tokens + completion_tokens)::BIGINT AS tokens,
               count(*) FILTER (WHERE status = 'labeled') AS labeled
        FROM step_votes JOIN matched USING (solution_id) WHERE true {only} GROUP BY ALL""",
                    params=params).to_arrow_table().to_pylist()
    keys = sorted({(c["annotator"], c["annotator_version"], c["config_hash"]) for c in costs})
    names = [a for a, _, _ in keys]
    out: dict[tuple, Labeller] = {}
    for key in keys:
        unique = names.count(key[0]) == 1
        out[key] = Labeller("annotator", key[0] if unique else f"{key[0]}@{key[1]}/{key[2]}")
    for c in costs:
        lab = out[(c["annotator"], c["annotator_version"], c["config_hash"])]
        lab.tokens, lab.labeled_steps = int(c["tokens"] or 0), int(c["labeled"])
    for v in votes:
        lab = out[(v["annotator"], v["annotator_version"], v["config_hash"])]
        lab.labels.setdefault(v["solution_id"], {})[v["step_index"]] = int(v["label"])
    return list(out.values())


def _consensus_labellers(con: Any, config: EvalConfig) -> list[Labeller]:
    from export.select import consensus_labels_sql

    only = "AND strategy IN (SELECT * FROM unnest(?))" if config.strategy else ""
    rows = con.sql(f"""
        SELECT solution_id, step_index, strategy, status, label, annotators
        FROM ({consensus_labels_sql(None, config.human_override)})
        JOIN matched USING (solution_id) WHERE true {only}
        ORDER BY strategy, solution_id, step_index""",
                   params=[config.strategy] if config.strategy else []).to_arrow_table().to_pylist()
    tokens = {(r["annotator"]): int(r["tokens"] or 0) for r in con.sql("""
        SELECT annotator, sum(prompt_tokens + completion_tokens)::BIGINT AS tokens
        FROM step_votes JOIN matched USING (solution_id) GROUP BY ALL""").to_arrow_table().to_pylist()}
    out: dict[str, Labeller] = {}
    used: dict[str, set[str]] = {}
    for r in rows:
        lab = out.setdefault(r["strategy"], Labeller("consensus", r["strategy"]))
        used.setdefault(r["strategy"], set()).update(r["annotators"] or [])
        if r["status"] in config.statuses and r["label"] is not None:
            lab.labels.setdefault(r["solution_id"], {})[r["step_index"]] = int(r["label"])
            lab.labeled_steps += 1
    for name, lab in out.items():
        lab.tokens = sum(tokens.get(a, 0) for a in used.get(name, ()))
    return list(out.values())


def labellers(lake: Lake, cases: list[GoldCase], config: EvalConfig) -> list[Labeller]:
    """The annotators and/or strategies with labels on the matched solutions."""
    con = lake.connect()
    try:
        con.register("matched", pa.table({"solution_id": sorted({c.solution_id for c in cases})}))
        found = []
        if config.labels in ("annotator", "all"):
            found += _annotator_labellers(con, config)
        if config.labels in ("consensus", "all"):
            found += _consensus_labellers(con, config)
        return found
    finally:
        con.close()


def score(cases: list[GoldCase], lab: Labeller) -> dict[str, Any]:
    """Every metric the gold supports for one labeller (rates in [0, 1], None when undefined)."""
    preds = []
    for case in cases:
        steps = lab.labels.get(case.solution_id, {})
        preds.append([steps.get(i) for i in range(case.n_steps)])
    firsts = [metrics.first_error_of(p) for p in preds]
    row: dict[str, Any] = {"labels": lab.kind, "name": lab.name, "cases": len(cases),
                           "coverage": metrics.ratio(sum(f is not None for f in firsts), len(cases)),
                           "tokens_per_labeled_step": metrics.ratio(lab.tokens, lab.labeled_steps)}
    located = [(c.first_error, f) for c, f in zip(cases, firsts) if c.first_error is not None]
    if any(c.kind != "outcome" for c in cases):
        gold_fe, pred_fe = [g for g, _ in located], [p for _, p in located]
        pb = metrics.processbench_scores(gold_fe, pred_fe)
        steps = metrics.step_scores((c.step_labels, p) for c, p in zip(cases, preds)
                                    if c.step_labels is not None)
        row.update(processbench_f1=pb.f1, acc_error=pb.acc_error, acc_correct=pb.acc_correct,
                   erroneous=pb.erroneous, correct=pb.correct,
                   first_error_match=metrics.first_error_match(gold_fe, pred_fe),
                   step_precision=steps.precision, step_recall=steps.recall, step_f1=steps.f1,
                   steps_compared=steps.steps)
    known = [(c.outcome, f) for c, f in zip(cases, firsts) if c.outcome is not None]
    outcome = metrics.outcome_scores([o for o, _ in known], [f for _, f in known])
    row.update(outcome_f1=outcome.f1, outcome_acc_correct=outcome.acc_correct,
               outcome_acc_wrong=outcome.acc_wrong, balanced_accuracy=outcome.balanced_accuracy)
    return row


@dataclass
class EvalReport:
    gold: str
    kinds: dict[str, int]
    cases: int
    matched: int
    rows: list[dict[str, Any]]
    unsupported: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"gold": self.gold, "kinds": self.kinds, "cases": self.cases,
                "matched": self.matched, "unmatched_examples": self.unmatched[:20],
                "unsupported_metrics": self.unsupported, "rows": self.rows}


def evaluate(lake: Lake, config: EvalConfig) -> EvalReport:
    """Read the gold, match it to the lake and score every selected labeller."""
    if not config.gold:
        raise ValueError("no gold file: give --gold FILE")
    cases = read_gold(config.gold, config.gold_format, config.max_chars)
    kinds: dict[str, int] = {}
    for case in cases:
        kinds[case.kind] = kinds.get(case.kind, 0) + 1
    matched = match(lake, cases)
    found = {id(c) for c in matched}
    report = EvalReport(config.gold, kinds, len(cases), len(matched), [],
                        unmatched=[c.where for c in cases if id(c) not in found])
    if set(kinds) == {"outcome"}:
        report.unsupported = {m: "needs step-level gold (ProcessBench or per-step ratings); "
                                 "outcome gold says only whether the final answer is right"
                              for m in STEP_METRICS}
    if matched:
        report.rows = [score(matched, lab) for lab in labellers(lake, matched, config)]
    return report
