"""The dataset card: README.md with YAML front matter (Hub metadata, `configs` for the splits)
and a text saying what is in the set and how it was made.

Everything in it derives from the lake and the options, never from the clock or the machine, so
a re-export writes the same bytes. Its numbers are SQL aggregates over the selection. What is
particular to a format (its text and notes, title, task category, file type) comes from its class
(``export/formats/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from export.config import format_of
from export.select import ExportConfig, Selection
from store.lake import Lake
from store.sql import in_list

# Licences of well-known sources, matched as substrings of problems.source (lower case).
KNOWN_LICENSES = {"gsm8k": "mit", "prm800k": "mit", "processbench": "apache-2.0",
                  "competition_math": "mit", "hendrycks": "mit", "math": "mit"}
SIZE_BINS = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
             (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]


@dataclass
class CardFacts:
    """What the card reports beyond the options: label balance per split, who labelled the
    examples, from which sources."""

    annotators: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    generators: dict[str, int] = field(default_factory=dict)
    provenance: dict[str, int] = field(default_factory=dict)  # exported labels per MC evidence
    mc_modes: dict[str, int] = field(default_factory=dict)  # exported labels per MC annotator
    soft_missing: tuple[int, int] | None = None  # (exported steps with a null soft label, steps)
    balance: dict[str, dict[str, Any]] = field(default_factory=dict)  # per split


def _counts(selection: Selection, column: str) -> dict[str, int]:
    rows = selection.query(f"SELECT {column} AS k, count(*) AS n FROM selected GROUP BY k").to_pylist()
    return dict(sorted((r["k"], r["n"]) for r in rows))


def gather_facts(lake: Lake, selection: Selection, strategy: str | None = None) -> CardFacts:
    """Label balance per split, annotator versions and vote counts on the exported solutions
    (only annotators whose votes the labels used), the examples' sources and generators, and
    (given the strategy) how many exported labels rest on measured / inferred MC evidence."""
    if not selection.total:
        return CardFacts()
    facts = CardFacts(sources=_counts(selection, "coalesce(nullif(source, ''), 'unknown')"),
                      generators=_counts(selection, "generator"),
                      balance=label_balance(selection), soft_missing=_soft_missing(selection))
    if not selection.annotators:
        return facts
    facts.annotators = selection.query(f"""
        SELECT annotator, annotator_version AS version, model, config_hash,
               count(*) AS votes, count(*) FILTER (WHERE status = 'labeled') AS labeled,
               sum(prompt_tokens + completion_tokens)::BIGINT AS tokens,
               sum(rollouts)::BIGINT AS rollouts
        FROM step_votes WHERE solution_id IN (SELECT solution_id FROM selected)
          AND annotator IN {in_list(selection.annotators)}
        GROUP BY ALL ORDER BY ALL""").to_pylist()
    if strategy is not None:
        facts.provenance = _provenance(selection, strategy)
        facts.mc_modes = _provenance(selection, strategy, "mc_annotator")
    return facts


def _soft_missing(selection: Selection) -> tuple[int, int]:
    """(exported steps whose probability is null, exported steps)."""
    [row] = selection.query("""
        SELECT coalesce(sum(len(list_filter(probabilities, lambda x: x IS NULL))), 0) AS nulls,
               coalesce(sum(len(probabilities)), 0) AS steps FROM selected""").to_pylist()
    return int(row["nulls"]), int(row["steps"])


def _provenance(selection: Selection, strategy: str, key: str = "mc_provenance") -> dict[str, int]:
    """Exported step labels per ``details.<key>`` of their consensus row (from the selection's
    ``consensus_rows``: the strategy's rows and every human row): ``mc_provenance`` (measured /
    inferred / none) or ``mc_annotator`` (the MC mode whose votes consensus used; none when the
    strategy records none)."""
    rows = selection.query("""
        WITH exported_steps AS (
          SELECT solution_id, unnest(range(len(labels)))::INTEGER AS step_index FROM selected),
        kinds AS (
          SELECT CASE WHEN c.status = 'human' THEN 'human'
                      ELSE coalesce(json_extract_string(c.details, '$.' || ?), 'none')
                 END AS kind
          FROM exported_steps e JOIN consensus_rows c USING (solution_id, step_index)
          WHERE c.strategy = ? OR c.status = 'human'
          QUALIFY row_number() OVER (PARTITION BY e.solution_id, e.step_index
                                     ORDER BY c.status = 'human' DESC) = 1)
        SELECT kind, count(*) AS n FROM kinds GROUP BY kind""", [key, strategy]).to_pylist()
    return dict(sorted((r["kind"], r["n"]) for r in rows))


def licence_of(sources: dict[str, int], override: str | None) -> tuple[str, list[str]]:
    """(Hub licence id, sources whose licence is unknown)."""
    found, unknown = set(), []
    for source in sources:
        matches = [lic for key, lic in KNOWN_LICENSES.items() if key in source.lower()]
        if matches:
            found.add(matches[0])
        else:
            unknown.append(source)
    if override:
        return override, unknown
    return (found.pop() if len(found) == 1 and not unknown else "other"), unknown


def label_balance(selection: Selection) -> dict[str, dict[str, Any]]:
    """Per split: step labels (positive / negative) and examples with / without a wrong step."""
    rows = selection.query("""
        SELECT split, count(*) AS examples,
               coalesce(sum(list_count(list_filter(labels, lambda x: x = 1))), 0) AS positive,
               coalesce(sum(list_count(list_filter(labels, lambda x: x = 0))), 0) AS negative,
               count(*) FILTER (WHERE first_error >= 0) AS with_error
        FROM selected GROUP BY split""").to_pylist()
    out = {}
    for r in sorted(rows, key=lambda r: list(selection.rows).index(r["split"])):
        positive, negative = int(r["positive"]), int(r["negative"])
        steps = positive + negative
        out[r["split"]] = {
            "examples": r["examples"], "steps": steps, "positive_steps": positive,
            "negative_steps": negative, "negative_share": round(negative / steps, 4) if steps else None,
            "examples_with_error": r["with_error"],
            "examples_without_error": r["examples"] - r["with_error"]}
    return out


def front_matter(selection: Selection, config: ExportConfig, licence: str,
                 pretty_name: str | None) -> dict[str, Any]:
    """The card's YAML metadata. No ``dataset_info``: `datasets` ignores (with a warning) a
    ``splits`` entry without ``num_bytes``, the size of the split as `datasets` builds it in
    Arrow, which only `datasets` can compute; the Hub fills it in, and the examples per split are
    in the card's text."""
    total = selection.total
    size = next((name for limit, name in SIZE_BINS if total < limit), "n>10M")
    fmt = format_of(config)
    return {
        "license": licence,
        "pretty_name": pretty_name or fmt.pretty_name(),
        "task_categories": [fmt.task_category],
        "tags": ["process-reward-model", "step-level-supervision", "stepforge", config.format],
        "size_categories": [size],
        "configs": [{"config_name": "default", "data_files": [
            {"split": split, "path": f"data/{split}-*.{fmt.ext}"} for split in selection.rows]}],
    }


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return lines


def render_card(selection: Selection, config: ExportConfig, facts: CardFacts,
                licence: str | None = None, pretty_name: str | None = None) -> str:
    """The README.md text."""
    hub_licence, unknown = licence_of(facts.sources, licence)
    meta = front_matter(selection, config, hub_licence, pretty_name)
    fmt = format_of(config)
    balance = facts.balance
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# {meta['pretty_name']}", "",
             "Step-level labels for training process reward models, exported by stepforge "
             f"(`stepforge export --format {config.format}`).", "",
             "## Format", "", fmt.card_text(), "", *fmt.card_notes(facts),
             "## Splits and label balance", ""]
    keys = ["examples", "steps", "positive_steps", "negative_steps", "negative_share",
            "examples_with_error", "examples_without_error"]
    lines += _table(["split", *keys], [[s, *(b[k] for k in keys)] for s, b in balance.items()])
    lines += ["", "The split is by problem (no problem is in both): a problem is in `test` when "
              f"sha256(\"{config.split_salt}\\0\" + problem_id), as a fraction of 2^64, is below "
              f"{config.test_fraction}.", "", "## How the labels were made", ""]
    rule = ("labels after the first wrong step are dropped (Qwen's rule)"
            if config.truncate_after_first_error else "every step of a solution is kept")
    lines += [f"- Consensus strategy `{config.strategy}`: the latest consensus row per step, "
              f"statuses {', '.join(config.statuses)}"
              + ("; a human-reviewed step takes the human label" if config.human_override else "")
              + f"; {rule}.",
              f"- Solutions with an unlabelled step before the example ends: {config.partial}."]
    if config.annotators:
        lines.append(f"- Only labels whose consensus used all of: {', '.join(config.annotators)}.")
    if config.min_probability is not None:
        lines.append(f"- Only labels with probability >= {config.min_probability}.")
    lines += [f"- Solutions read: {selection.considered}; left out: "
              + (", ".join(f"{n} {why}" for why, n in sorted(selection.dropped.items())) or "none")
              + ".", ""]
    lines += fmt.selection_notes(selection)
    lines += ["Annotators whose votes entered the labels (on the exported solutions):", ""]
    if facts.provenance:
        total = sum(facts.provenance.values())
        lines += ["Where the exported labels' MC evidence came from (measured: rollouts from "
                  "that step's prefix or the solution's graded answer; inferred: a correct "
                  "solution witnessing its steps, or a position before / after a found first "
                  "error; none: no MC vote used): " + ", ".join(
                      f"{kind} {n} ({n / total:.0%})" for kind, n in facts.provenance.items())
                  + ".", ""]
    if any(mode not in ("none", "human") for mode in facts.mc_modes):
        total = sum(facts.mc_modes.values())
        lines += ["Which MC annotator's votes the exported labels rest on (the MC role of "
                  "consensus; none: no MC vote used, human: a reviewed step): " + ", ".join(
                      f"{mode} {n} ({n / total:.0%})" for mode, n in facts.mc_modes.items())
                  + ".", ""]
    cols = ["annotator", "version", "model", "config_hash", "votes", "labeled", "tokens", "rollouts"]
    lines += _table(cols, [[a.get(c) for c in cols] for a in facts.annotators]) if facts.annotators \
        else ["(none recorded: human labels only)"]
    lines += ["", "Options:", "", "```yaml",
              yaml.safe_dump(config.model_dump(mode="json", exclude=fmt.unused_options()), sort_keys=True,
                             allow_unicode=True).rstrip(),
              "```", "", "## Sources and licence", ""]
    lines += _table(["source", "examples"], [[s, n] for s, n in facts.sources.items()])
    lines += ["", "Solutions by generator:", ""]
    lines += _table(["generator", "examples"], [[g, n] for g, n in facts.generators.items()])
    lines += ["", f"Licence: `{hub_licence}`."]
    if unknown:
        lines.append(f"The licence of these sources is not known to stepforge: {', '.join(unknown)}; "
                     "check them (and the generators' terms) before publishing.")
    return "\n".join(lines) + "\n"
