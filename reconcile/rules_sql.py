"""The reconcile rules as SQL over the lake's step table: one query per strategy, no Python per
vote or per step.

``ITEMS`` holds one row per voted (solution, step), ``sid, step``, with per annotator ``j`` (the
annotators sorted by name, like ``VoteMatrix`` columns) its counting vote's label ``l{j}`` (1 / 0
/ -1 none; the counting vote: the newest of the annotator's newest run on the solution, whatever
its status), score ``s{j}``, MC provenance ``p{j}`` (1 measured / 0 inferred / -1) and whether
it voted at all ``t{j}``, plus the step's ``unparsed`` and ``skipped`` counts; ``lengths`` holds each
solution's ``n_steps`` and ``human`` the reviewers' per-step ``hl`` / ``share`` / ``reviewers`` /
``tie``. These are the live consensus, majority, unanimous and Dawid-Skene rules; each is the
SQL twin of its numpy oracle in ``tests.oracles.consensus`` / ``tests.oracles.dawid_skene`` (same
decisions, same rows; tests/reconcile/test_reconcile_sql.py compares them on random lakes):
``decision_sql`` returns the per-step decision with columns ``label, probability, status, emit,
u{j}`` (vote used), ``prov`` (MC provenance code) and ``pprob`` (the probability review priority
is taken of), and the rule's detail columns.
"""

from __future__ import annotations

from typing import Any, Sequence

from reconcile.statuses import MIN_SOURCES
from store.sql import in_list, list_literal

ITEMS_SQL = """
WITH latest AS (
  SELECT solution_id AS sid, step_index AS step, ({index})::INTEGER AS j,
         arg_max({{'label': CASE WHEN status = 'labeled' THEN label END,
                   'score': CASE WHEN status = 'labeled' THEN score END,
                   'prov': CASE WHEN status = 'labeled' THEN provenance END}},
                 (created_at, vote_id)) AS vote,
         count(*) FILTER (WHERE status = 'unparsed') AS unparsed,
         count(*) FILTER (WHERE status = 'skipped') AS skipped
  FROM {source} GROUP BY ALL),
flat AS (
  SELECT sid, step, j, vote.label::TINYINT AS label, vote.score::DOUBLE AS score,
         CASE vote.prov WHEN 'measured' THEN 1 WHEN 'inferred' THEN 0 END::TINYINT AS prov,
         unparsed, skipped
  FROM latest)
SELECT sid, step, {pivot}, sum(unparsed)::INTEGER AS unparsed, sum(skipped)::INTEGER AS skipped
FROM flat GROUP BY sid, step
"""


def _index(annotators: Sequence[str]) -> str:
    """A vote's column number ``j``: its annotator's position in ``annotators``, from 0."""
    return f"list_position({list_literal(annotators)}::VARCHAR[], annotator) - 1"


def items_sql(annotators: Sequence[str], source: str = "v") -> str:
    """The ``items`` table (see the module docstring) from the staged votes ``source``, any
    number of votes per (solution, step, annotator) of one run (older runs are removed before,
    ``reconcile.items.supersede``): the latest one counts, whatever its status. Each vote's
    annotator becomes its column number ``j`` once, so the pivot compares integers."""
    parts = []
    for j in range(len(annotators)):
        parts += [f"coalesce(max(CASE WHEN j = {j} THEN label END), -1)::TINYINT AS l{j}",
                  f"max(CASE WHEN j = {j} THEN score END) AS s{j}",
                  f"coalesce(max(CASE WHEN j = {j} THEN prov END), -1)::TINYINT AS p{j}",
                  f"bool_or(j = {j}) AS t{j}"]
    return ITEMS_SQL.format(index=_index(annotators), pivot=", ".join(parts), source=source)


ONE_VOTE_ITEMS_SQL = """
SELECT sid, step, {columns}, unparsed, skipped, {repeated} AS repeated
FROM (SELECT solution_id AS sid, step_index AS step, {pivot},
             count(*) FILTER (WHERE status = 'unparsed')::INTEGER AS unparsed,
             count(*) FILTER (WHERE status = 'skipped')::INTEGER AS skipped
      FROM (SELECT *, {index} AS j, status = 'labeled' AS ok FROM v) GROUP BY ALL)
"""


def one_vote_items_sql(annotators: Sequence[str]) -> str:
    """``items`` in one aggregate per (solution, step), exact where each annotator cast at most
    one vote on the step (the usual case); ``repeated`` marks the steps where one cast more,
    which ``items_sql`` redoes (picking the latest vote needs a group per annotator)."""
    prov = "CASE provenance WHEN 'measured' THEN 1 WHEN 'inferred' THEN 0 END"
    pivot, cols = [], []
    for j in range(len(annotators)):
        pivot += [f"max(CASE WHEN j = {j} AND ok THEN label END) AS l{j}",
                  f"max(CASE WHEN j = {j} AND ok THEN score END)::DOUBLE AS s{j}",
                  f"max(CASE WHEN j = {j} AND ok THEN {prov} END) AS p{j}",
                  f"count(*) FILTER (WHERE j = {j}) AS c{j}"]
        cols += [f"coalesce(l{j}, -1)::TINYINT AS l{j}", f"s{j}", f"coalesce(p{j}, -1)::TINYINT AS p{j}",
                 f"c{j} > 0 AS t{j}"]
    repeated = _any([f"c{j} > 1" for j in range(len(annotators))])
    return ONE_VOTE_ITEMS_SQL.format(columns=", ".join(cols), pivot=", ".join(pivot),
                                     index=_index(annotators), repeated=repeated)


def columns(annotators: Sequence[str], names: Sequence[str] | None) -> list[int]:
    """``VoteMatrix.columns``: indices of ``names`` present (all when None), in ``names`` order."""
    if names is None:
        return list(range(len(annotators)))
    index = {a: i for i, a in enumerate(annotators)}
    return [index[n] for n in names if n in index]


def _any(terms: Sequence[str]) -> str:
    return "(" + " OR ".join(terms) + ")" if terms else "false"


def _single(sources: str) -> str:
    """A settled step's status: agreed (0) with ``MIN_SOURCES`` labeled votes, else
    single-source (3)."""
    return f"(CASE WHEN {sources} >= {MIN_SOURCES} THEN 0 ELSE 3 END)"


def _sum(terms: Sequence[str]) -> str:
    """Left-to-right sum, as numpy adds a row's cells."""
    return "(" + " + ".join(["0.0", *terms]) + ")"


def soft_value(j: int, soft: bool) -> str:
    """``VoteMatrix.soft`` cell: the score for soft annotators (NULL where the vote has none:
    an inferred label is not a measurement), else the label; NULL without a labeled vote."""
    if soft:
        return f"(CASE WHEN l{j} >= 0 THEN s{j} END)"
    return f"(CASE WHEN l{j} >= 0 THEN l{j}::DOUBLE END)"


def _used(n: int, cols: Sequence[int], condition: str = "l{j} >= 0") -> str:
    return ", ".join(f"({condition.format(j=j)}) AS u{j}" if j in cols else f"false AS u{j}"
                     for j in range(n))


def provenance_sql(n: int, mc_cols: Sequence[int]) -> str:
    """``mc_provenance``'s code over the used MC votes: 2 measured, 1 inferred, 0 none."""
    measured = _any([f"(u{j} AND p{j} = 1)" for j in mc_cols])
    inferred = _any([f"(u{j} AND p{j} = 0)" for j in mc_cols])
    return f"CASE WHEN {measured} THEN 2 WHEN {inferred} THEN 1 ELSE 0 END"


def weighted_vote_sql(annotators: Sequence[str], rule: Any, share_needed: float,
                      soft: Sequence[str]) -> str:
    """``weighted_vote``: per step the label holding more than ``share_needed`` of the weight."""
    n = len(annotators)
    cols = columns(annotators, rule.annotators)
    w = {j: float(rule.weights.get(annotators[j], 1.0)) for j in cols}
    pos = _sum([f"(l{j} = 1)::DOUBLE * {w[j]!r}" for j in cols])
    total = _sum([f"(l{j} >= 0)::DOUBLE * {w[j]!r}" for j in cols])
    count = "(" + " + ".join(["0", *[f"(l{j} >= 0)::INTEGER" for j in cols]]) + ")"
    value = _sum([f"coalesce({soft_value(j, annotators[j] in soft)} * {w[j]!r}, 0.0)"
                  for j in cols])
    known = _sum([f"({soft_value(j, annotators[j] in soft)} IS NOT NULL)::DOUBLE * {w[j]!r}"
                  for j in cols])
    settled = ("win >= 1.0 - 1e-12" if share_needed >= 1.0 else f"win > {share_needed!r} + 1e-12")
    return f"""
    SELECT *, CASE WHEN agreed THEN (share >= 0.5)::INTEGER ELSE -1 END AS label,
           CASE WHEN agreed THEN {_single('votes')} ELSE 1 END AS status, probability AS pprob
    FROM (SELECT *, coalesce({settled} AND votes >= {int(rule.min_votes)} AND total > 0, false) AS agreed
          FROM (SELECT *, greatest(share, 1 - share) AS win
                FROM (SELECT sid, step, unparsed, skipped, {', '.join(f'p{j}' for j in range(n))}, {_used(n, cols)},
                             {_any([f't{j}' for j in cols])} AS emit, {count} AS votes, {total} AS total,
                             CASE WHEN {total} > 0 THEN {pos} / {total} END AS share,
                             CASE WHEN {known} > 0 THEN {value} / {known} END AS probability
                      FROM items)))"""


def roles_sql(mc: Sequence[int], judge: Sequence[int]) -> str:
    """Per solution the MC and judge roles: the first candidate whose first error is known."""
    cols = sorted(set(mc) | set(judge))
    if not cols:
        return "SELECT sid, -1 AS mc_col, -2 AS mc_fe, -1 AS judge_col, -2 AS judge_fe FROM lengths"

    def role(cands: Sequence[int], what: str) -> str:
        if not cands:
            return "-1" if what == "col" else "-2"
        whens = " ".join(f"WHEN fe{c} <> -2 THEN {c if what == 'col' else f'fe{c}'}" for c in cands)
        return f"CASE {whens} ELSE {-1 if what == 'col' else -2} END"

    zero = ", ".join(f"min(step) FILTER (WHERE l{c} = 0) AS z{c}" for c in cols)
    covered = ", ".join(
        f"count(*) FILTER (WHERE i.l{c} >= 0 AND i.step < coalesce(z.z{c}, g.n_steps)) AS cov{c}"
        for c in cols)
    fe = ", ".join(f"CASE WHEN cov{c} >= coalesce(z{c}, n_steps) THEN coalesce(z{c}, -1) ELSE -2 END "
                   f"AS fe{c}" for c in cols)
    return f"""
    SELECT sid, {role(mc, 'col')} AS mc_col, {role(mc, 'fe')} AS mc_fe,
           {role(judge, 'col')} AS judge_col, {role(judge, 'fe')} AS judge_fe
    FROM (SELECT sid, {fe} FROM (
        SELECT i.sid, any_value(g.n_steps) AS n_steps, {', '.join(f'any_value(z.z{c}) AS z{c}' for c in cols)},
               {covered}
        FROM items i JOIN (SELECT sid, {zero} FROM items GROUP BY sid) z USING (sid)
        JOIN lengths g USING (sid) GROUP BY i.sid))"""


def consensus_sql(annotators: Sequence[str], rule: Any, soft: Sequence[str]) -> str:
    """``first_error_consensus``: kept when the MC and judge roles locate the same first error."""
    n = len(annotators)
    mc, judge = columns(annotators, rule.mc), columns(annotators, rule.judge)

    def role_value(role: str) -> str:
        whens = " ".join(f"WHEN {j} THEN {soft_value(j, annotators[j] in soft)}" for j in range(n))
        return f"(CASE {role}_col {whens} END)"

    used = ", ".join(f"((mc_col = {j} OR judge_col = {j}) AND l{j} >= 0) AS u{j}" for j in range(n))
    n_used = "(" + " + ".join(["0", *[f"u{j}::INTEGER" for j in range(n)]]) + ")"
    involved = _any([f"t{j}" for j in sorted(set(mc + judge))])
    drop = "true" if rule.after_first_error == "drop" else "false"
    return f"""
    SELECT *, CASE WHEN agreed THEN mcv
                   WHEN n_known > 0 THEN pos / greatest(n_known, 1) END AS probability,
           CASE WHEN agreed THEN (CASE WHEN mc_col = judge_col THEN 3 ELSE 0 END) ELSE 1 END AS status,
           {involved} AND NOT (agreed AND fe >= 0 AND step > fe AND {drop}) AS emit,
           (pos + 0.5 * (2 - n_known)) / 2 AS pprob
    FROM (SELECT *, {n_used} AS n_used,
                 CASE WHEN agreed THEN (fe = -1 OR step < fe)::INTEGER ELSE -1 END AS label
          FROM (SELECT i.sid, i.step, i.unparsed, i.skipped, {', '.join(f'i.t{j}' for j in range(n))},
                       {', '.join(f'i.l{j}, i.p{j}' for j in range(n))}, {used},
                       r.mc_col, r.mc_fe, r.judge_col, r.judge_fe, r.agreed,
                       CASE WHEN r.agreed THEN r.mc_fe ELSE -2 END AS fe,
                       (0.0 + coalesce({role_value('r.mc')}, 0.0)) + coalesce({role_value('r.judge')}, 0.0) AS pos,
                       {role_value('r.mc')} AS mcv,
                       ({role_value('r.mc')} IS NOT NULL)::INTEGER
                       + ({role_value('r.judge')} IS NOT NULL)::INTEGER AS n_known
                FROM items i JOIN (SELECT *, mc_col >= 0 AND judge_col >= 0 AND mc_fe = judge_fe AS agreed
                                   FROM roles) r USING (sid)))"""


def dawid_skene_sql(annotators: Sequence[str], rule: Any, clamped: bool) -> str:
    """``dawid_skene``: the posterior of the step's (votes, clamp) pattern, from ``ds_post``."""
    n = len(annotators)
    cols = columns(annotators, rule.annotators)
    has_vote = _any([f"l{j} >= 0" for j in cols])
    sources = "(" + " + ".join(["0", *[f"(l{j} >= 0)::INTEGER" for j in cols]]) + ")"
    clamp = "coalesce(hl, -1)" if clamped else "-1"
    code = " + ".join([*(f"(l{j} + 1)::BIGINT * {3 ** k}" for k, j in enumerate(cols)),
                       f"({clamp} + 1)::BIGINT * {3 ** len(cols)}"])
    known = f"({has_vote} OR {clamp} >= 0)"
    return f"""
    SELECT *, CASE WHEN settled THEN (probability >= 0.5)::INTEGER ELSE -1 END AS label,
           CASE WHEN settled THEN {_single(sources)} ELSE 1 END AS status, probability AS pprob
    FROM (SELECT *, coalesce({has_vote} AND greatest(probability, 1 - probability) >= {rule.threshold!r},
                             false) AS settled
          FROM (SELECT i.*, {_used(n, cols)}, {_any([f't{j}' for j in cols])} AS emit,
                       CASE WHEN {known} THEN p.post END AS probability
                FROM items i LEFT JOIN human h USING (sid, step)
                LEFT JOIN ds_post p ON p.code = {code}))"""


def pattern_counts_sql(annotators: Sequence[str], rule: Any, clamped: bool) -> str:
    """Distinct (votes, clamp) pattern codes of the rule's annotators and their step counts."""
    cols = columns(annotators, rule.annotators)
    clamp = "coalesce(hl, -1)" if clamped else "-1"
    code = " + ".join([*(f"(l{j} + 1)::BIGINT * {3 ** k}" for k, j in enumerate(cols)),
                       f"({clamp} + 1)::BIGINT * {3 ** len(cols)}"])
    return (f"SELECT {code} AS code, count(*) AS n FROM items LEFT JOIN human USING (sid, step) "
            "GROUP BY code ORDER BY code")


def with_human_sql(rule_sql: str, n: int, mc_cols: Sequence[int], human: bool) -> str:
    """The rule's decision with MC provenance, then submitted reviews applied (``apply_human``)."""
    base = f"SELECT *, {provenance_sql(n, mc_cols)} AS prov FROM ({rule_sql})"
    if not human:
        return base
    return f"""
    SELECT * REPLACE (
        CASE WHEN h_label >= 0 THEN h_label WHEN h_tie THEN -1 ELSE label END AS label,
        CASE WHEN h_reviewers > 0 THEN h_share ELSE probability END AS probability,
        CASE WHEN h_label >= 0 THEN 2 WHEN h_tie THEN 1 ELSE status END AS status,
        emit OR h_reviewers > 0 AS emit,
        CASE WHEN h_reviewers > 0 THEN h_share ELSE probability END AS pprob),
        h_reviewers AS n_reviewers
    FROM (SELECT b.*, coalesce(h.hl, -1) AS h_label, h.share AS h_share,
                 coalesce(h.reviewers, 0)::INTEGER AS h_reviewers, coalesce(h.tie, false) AS h_tie
          FROM ({base}) b LEFT JOIN human h USING (sid, step))"""


PRIORITY_SQL = """
SELECT sid, CASE WHEN bool_or(status = 1 AND emit)
                 THEN sum(CASE WHEN emit THEN {entropy} ELSE 0.0 END) * (1 + ln(greatest({k}, 1))) END AS sol_priority
FROM dec GROUP BY sid
"""


def priority_sql(n: int) -> str:
    """``review_priority`` per solution: its summed step entropy times 1 + ln(annotators used)."""
    p = "least(greatest(coalesce(pprob, 0.5), 1e-12), 1 - 1e-12)"
    entropy = f"-({p} * log2({p}) + (1 - {p}) * log2(1 - {p}))"
    k = "(" + " + ".join(["0", *[f"bool_or(u{j})::INTEGER" for j in range(n)]]) + ")"
    return PRIORITY_SQL.format(entropy=entropy, k=k)


def annotator_names(annotators: Sequence[str], kind: str, rule: Any) -> list[str]:
    """The annotators whose votes a strategy reads (``strategy_annotators``)."""
    names = list(rule.mc) + list(rule.judge) if kind == "consensus" else rule.annotators
    return [annotators[c] for c in columns(annotators, names)]


def names_in(names: Sequence[str]) -> str:
    return in_list(list(names)) if names else "(NULL)"
