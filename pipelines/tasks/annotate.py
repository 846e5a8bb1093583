"""Annotation logic: which solutions each annotator still has to label, and one labelled batch.

A solution is settled for an annotator once the lake holds its votes for the same
(annotator, annotator_version, config_hash); votes of one batch are written in one atomic
append, so a solution is never half-labelled and a re-run (or a run after a crash) labels only
what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from annotators.base import Annotator
from annotators.registry import REGISTRY, build_annotator, engine_roles, validate_settings
from engines.config import EngineConfig
from engines.factory import build_engine
from schemas import Problem, RecordError, Solution, StepVote
from store.lake import Lake
from store.sql import in_list, literal


class AnnotateConfig(BaseModel):
    """Which annotators label which solutions. Loaded from the ``annotate:`` section and flags."""

    model_config = ConfigDict(extra="forbid")

    annotators: list[str] = Field(
        default_factory=lambda: ["mc-binary"],
        description=f"annotators to run, comma-separated: {', '.join(REGISTRY)}")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="per-annotator config, e.g. {mc-binary: {k: 8}}")
    batch_solutions: int = Field(8, ge=1, description="solutions per annotation task")
    limit: int | None = Field(None, ge=1, description="label at most this many solutions")
    generator: str | None = Field(None, description="only solutions from this generator")
    solution_ids: list[str] | None = Field(None, description="only these solutions")
    parallel: int = Field(2, ge=1, description="annotation tasks running at once")
    input: str | None = Field(
        None, description="a gold or solutions file (ProcessBench, per-step, outcome / GSM8K "
        "GPT-3 rows): its solutions are ingested, then only they are labelled")
    input_kind: Literal["auto", "processbench", "solutions"] = Field(
        "auto", description="how --input is ingested; auto: processbench when rows carry "
        "`steps` and an integer `label`, else solutions")

    @field_validator("annotators")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown annotator(s) {unknown}; choose from {', '.join(REGISTRY)}")
        if not names:
            raise ValueError("no annotator given")
        return names

    @model_validator(mode="after")
    def _settings_typed(self) -> "AnnotateConfig":
        """Every annotator's settings become its typed config now, once, before any engine is
        built (a typo in ``settings.mc-binary`` fails at load, naming the key); settings typed
        before are kept as they are."""
        self.settings = {name: values if isinstance(values, BaseModel)
                         else validate_settings(name, values)
                         for name, values in self.settings.items()}
        return self

    def typed_settings(self, name: str) -> BaseModel:
        """Annotator ``name``'s typed config (its defaults when the settings do not name it)."""
        return self.settings.get(name) or validate_settings(name, {})

    def engines_used(self, name: str, engines: dict[str, EngineConfig]) -> dict[str, EngineConfig]:
        """The engine configs annotator ``name`` uses (its ``EngineRole`` fields), plus
        ``default``; a role missing from ``engines:`` is an error naming it."""
        roles = {"default"} | engine_roles(self.typed_settings(name))
        missing = sorted(roles - engines.keys())
        if missing:
            raise RecordError("annotate", f"settings.{name}", f"engine role(s) {missing} are "
                              f"missing from `engines:` (defined: {', '.join(engines)})")
        return {role: engines[role] for role in sorted(roles)}


@dataclass
class BatchResult:
    annotator: str
    solutions: int = 0
    votes_added: int = 0
    labeled: int = 0
    unparsed: int = 0
    skipped: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    rollouts: int = 0
    already_done: int = 0  # solutions skipped: labelled earlier by the same annotator and config

    def add(self, other: "BatchResult") -> None:
        for name in ("solutions", "votes_added", "labeled", "unparsed", "skipped",
                     "prompt_tokens", "completion_tokens", "rollouts"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


_ANNOTATORS: dict[str, Annotator] = {}


def annotator_for(name: str, settings: BaseModel, engines: dict[str, EngineConfig]) -> Annotator:
    """Build (once per process) annotator ``name`` from its typed config (``typed_settings``)
    over engines built from their configs."""
    values = settings.model_dump(mode="json")
    key = json.dumps([name, values, {k: v.model_dump() for k, v in engines.items()}],
                     sort_keys=True, default=str)
    if key not in _ANNOTATORS:
        built = {role: build_engine(cfg) for role, cfg in engines.items()}
        _ANNOTATORS[key] = build_annotator(name, settings, built)
    return _ANNOTATORS[key]


def ingest_input(path: str, lake: Lake, kind: str = "auto") -> list[str]:
    """Ingest the solutions of a gold / solutions file (idempotent) and return their ids, so
    any annotator can be run, then evaluated, on a benchmark's own solutions."""
    from ingest.records import IngestConfig, ingest
    from ingest.readers import detect, file_rows

    if kind == "auto":
        where, row = next(file_rows(path), (path, None))
        if row is None:
            raise RecordError(path, None, "the input holds no rows")
        form = detect(row)
        if form == "prm800k":
            raise RecordError(where, "label", "PRM800K rows cannot be annotated directly: "
                              "convert them to ProcessBench rows (problem, steps, label)")
        kind = "processbench" if form == "processbench" else "solutions"
    ingested, _ = ingest(path, IngestConfig(kind=kind), lake)
    if not ingested.solutions:
        raise RecordError(path, None, f"no solution found in the input (read as {kind})")
    return sorted({s.solution_id for s in ingested.solutions})


def restrict_to_input(config: AnnotateConfig, lake: Lake) -> AnnotateConfig:
    """``config`` after ingesting its ``input``: only those solutions (within any
    ``solution_ids``), with ``input`` cleared so nothing ingests it twice. The command calls it
    before Prefect starts, so a bad input file fails in a second, in one line."""
    if not config.input:
        return config
    ids = set(ingest_input(config.input, lake, config.input_kind))
    keep = ids if config.solution_ids is None else ids & set(config.solution_ids)
    return config.model_copy(update={"solution_ids": sorted(keep), "input": None})


def candidate_solutions(lake: Lake, config: AnnotateConfig) -> list[Solution]:
    """The solutions this run may label (generator / id filters and limit applied, id order)."""
    where = []
    if config.generator:
        where.append(f"generator = {literal(config.generator)}")
    if config.solution_ids is not None:
        where.append(f"solution_id IN {in_list(config.solution_ids)}")
    solutions = sorted(lake.records("solutions", " AND ".join(where) or None),
                       key=lambda s: s.solution_id)
    return solutions[: config.limit] if config.limit else solutions


def settled_ids(lake: Lake, annotator: Annotator) -> set[str]:
    """Solutions already carrying this annotator's votes at this version and config."""
    rows = lake.query(
        "SELECT DISTINCT solution_id FROM step_votes WHERE annotator = "
        f"{literal(annotator.name)} AND annotator_version = {literal(annotator.version)} "
        f"AND config_hash = {literal(annotator.config_hash)}").to_pylist()
    return {row["solution_id"] for row in rows}


def problems_for(lake: Lake, solutions: list[Solution]) -> dict[str, Problem]:
    ids = sorted({s.problem_id for s in solutions})
    return {p.problem_id: p for p in lake.records("problems", f"problem_id IN {in_list(ids)}")}


def verified_by(config: AnnotateConfig, name: str) -> str | None:
    """The annotator whose first errors annotator ``name`` checks (mc-verify's ``verify``)."""
    return getattr(config.typed_settings(name), "verify", None)


def annotator_stages(config: AnnotateConfig) -> tuple[list[list[str]], list[str]]:
    """The annotators in the order they must run, and what that order means in words: an
    annotator that checks another's first errors (mc-verify) runs after every annotator of the
    run, so the votes it reads are stored when it starts."""
    checks = {name: verified_by(config, name) for name in config.annotators}
    first = [name for name in config.annotators if checks[name] is None]
    then = [name for name in config.annotators if checks[name] is not None]
    notes = []
    for name in then:
        target = checks[name]
        if target in checks and checks[target] is not None:
            raise RecordError("annotate", f"settings.{name}.verify", f"{target} checks first "
                              f"errors itself; {name} can only check an annotator that makes them")
        notes.append(f"{target} runs before {name} ({name} checks {target}'s first errors)"
                     if target in checks else f"{name} checks the first errors {target} already "
                     f"stored ({target} is not run here)")
    return [stage for stage in (first, then) if stage], notes


def require_claims(lake: Lake, config: AnnotateConfig, solutions: list[Solution] | None = None) -> None:
    """Fail before any work when an annotator checks the first errors of one that is not run
    here and the lake holds none of its votes (on ``solutions``, or at all when None)."""
    for name in config.annotators:
        target = verified_by(config, name)
        if target is None or target in config.annotators:
            continue
        where = f"annotator = {literal(target)}"
        if solutions is not None:
            if not solutions:
                continue
            where += f" AND solution_id IN {in_list([s.solution_id for s in solutions])}"
        n = lake.query(f"SELECT count(*) AS n FROM step_votes WHERE {where}")["n"][0].as_py()
        if not n:
            scope = f"the {len(solutions)} solutions to label" if solutions is not None else "any solution"
            raise RecordError("annotate", f"settings.{name}.verify", f"{name} checks {target}'s "
                              f"first errors, but the lake holds no {target} votes on {scope} and "
                              f"{target} is not run here: run it first (--annotators "
                              f"{target},{name})")


def claims_for(lake: Lake, annotator: str, solutions: list[Solution]) -> dict[str, Any]:
    """Per solution, the first error ``annotator``'s stored votes locate (an
    ``annotators.mc.verify.Claim``), read as reconcile reads them (store.analytics: the newest
    run of the annotator on the solution counts, whatever its status; older runs are
    superseded), so the claim checked is the one consensus compares."""
    from annotators.mc.verify import claim_from_votes
    from store.analytics import counting_votes_sql

    if not solutions:
        return {}
    mine_sql = f"""(SELECT * FROM step_votes WHERE annotator = {literal(annotator)}
                    AND solution_id IN {in_list([s.solution_id for s in solutions])})"""
    rows = lake.query(counting_votes_sql(
        mine_sql, "solution_id, step_index, status, label, annotator_version, config_hash")).to_pylist()
    by_solution: dict[str, list[dict]] = {}
    for row in rows:
        by_solution.setdefault(row["solution_id"], []).append(row)
    claims = {}
    for solution in solutions:
        mine = by_solution.get(solution.solution_id)
        if not mine:
            continue
        runs = sorted({(r["annotator_version"], r["config_hash"] or "") for r in mine})
        claims[solution.solution_id] = claim_from_votes(
            annotator, len(solution.steps), [(r["step_index"], r["status"], r["label"]) for r in mine],
            runs)
    return claims


def label_batch(annotator: Annotator, problems: dict[str, Problem], solutions: list[Solution],
                lake: Lake) -> BatchResult:
    """Label a batch, check every step got exactly one vote, and store the votes atomically.
    An annotator that checks another's first errors (``verifies``: mc-verify) gets them from
    the lake now, after that annotator's stage stored them."""
    target = getattr(annotator, "verifies", None)
    if target is not None:
        claims = claims_for(lake, target, solutions)
        votes: list[StepVote] = list(annotator.annotate(problems, solutions, claims=claims))
    else:
        votes = list(annotator.annotate(problems, solutions))
    expected = {(s.solution_id, i) for s in solutions for i in range(len(s.steps))}
    got = [(v.solution_id, v.step_index) for v in votes]
    missing = expected - set(got)
    if missing or len(got) != len(set(got)) or set(got) - expected:
        raise RuntimeError(
            f"annotator {annotator.name} returned {len(got)} votes for {len(expected)} steps "
            f"(missing e.g. {sorted(missing)[:3]}); nothing stored for this batch")
    result = BatchResult(annotator.name, solutions=len(solutions))
    result.votes_added = lake.append("step_votes", votes)
    for vote in votes:
        setattr(result, vote.status, getattr(result, vote.status) + 1)
        result.prompt_tokens += vote.prompt_tokens
        result.completion_tokens += vote.completion_tokens
        result.rollouts += vote.rollouts
    return result


def skip_key(kind: str | None, reason: str) -> str:
    """A skipped vote's short reason key: its ``details.skip_kind`` (MC: unsolvable, truncated,
    ...), else the reason's first word when it reads "word: ...", else "other"."""
    if kind:
        return kind
    head, sep, _ = reason.partition(":")
    return head.strip() if sep and head.strip() and " " not in head.strip() and len(head) <= 24 else "other"


def skipped_lines(lake: Lake, annotator: str, already_done: int, since: datetime) -> list[str]:
    """What this run left without a label and why: solutions labelled earlier (not redone),
    solutions that got no label, skipped votes counted per short reason key, then each key's
    full reason once (never cut: two reasons must not look alike), and unparsed votes."""
    lines = []
    if already_done:
        lines.append(f"skipped {already_done} solutions already labelled by {annotator} with "
                     "this config (not redone)")
    name, ts = literal(annotator), literal(since.isoformat())
    rows = lake.query(f"""
        SELECT status, details->>'skip_kind' AS kind,
               coalesce(nullif(details->>'reason', ''), nullif(rationale, ''), 'no reason given') AS reason,
               count(*) AS n, list(DISTINCT solution_id) AS solutions
        FROM step_votes WHERE annotator = {name} AND created_at >= {ts}::TIMESTAMPTZ
          AND status <> 'labeled'
        GROUP BY ALL ORDER BY n DESC, reason""").to_pylist()
    unlabelled = lake.query(f"""
        SELECT count(*) AS n FROM (SELECT solution_id FROM step_votes
          WHERE annotator = {name} AND created_at >= {ts}::TIMESTAMPTZ
          GROUP BY solution_id HAVING count(*) FILTER (WHERE status = 'labeled') = 0)""")
    n = unlabelled["n"][0].as_py()
    if n:
        lines.append(f"{n} solutions got no label from {annotator} (their votes are skipped or "
                     "unparsed, never 0/1)")
    lines += _skip_summary([r for r in rows if r["status"] == "skipped"])
    unparsed = sum(r["n"] for r in rows if r["status"] == "unparsed")
    if unparsed:
        lines.append(f"{unparsed} votes unparsed: the verdict could not be read (raw text in "
                     "step_votes.rationale)")
    return lines


def _skip_summary(rows: list[dict]) -> list[str]:
    """"N votes skipped on S solutions: key n, key n", then per key its most frequent reason in
    full (with how many other wordings the key has)."""
    if not rows:
        return []
    keys: dict[str, dict] = {}
    for r in rows:  # most votes first
        entry = keys.setdefault(skip_key(r["kind"], r["reason"]),
                                {"n": 0, "solutions": set(), "reasons": []})
        entry["n"] += r["n"]
        entry["solutions"].update(r["solutions"])
        entry["reasons"].append(" ".join(r["reason"].split()))
    solutions = set().union(*(e["solutions"] for e in keys.values()))
    order = sorted(keys, key=lambda k: (-keys[k]["n"], k))
    lines = [f"{sum(e['n'] for e in keys.values())} votes skipped on {len(solutions)} solutions: "
             + ", ".join(f"{k} {keys[k]['n']}" for k in order)]
    for k in order:
        reasons = keys[k]["reasons"]
        others = f" (and {len(reasons) - 1} other wordings)" if len(reasons) > 1 else ""
        lines.append(f"{k}: {reasons[0]}{others}")
    return lines
