"""The dataset card: README.md with YAML front matter (Hub metadata, `configs` for the splits)
and a text saying what is in the set and how it was made.

Everything in it derives from the lake and the options, never from the clock or the machine, so
a re-export writes the same bytes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import yaml

from tests.export.legacy.select import ExportConfig, Example, Selection
from store.lake import Lake

# Licences of well-known sources, matched as substrings of problems.source (lower case).
KNOWN_LICENSES = {"gsm8k": "mit", "prm800k": "mit", "processbench": "apache-2.0",
                  "competition_math": "mit", "hendrycks": "mit", "math": "mit"}
SIZE_BINS = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
             (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]


@dataclass
class CardFacts:
    """What the card reports beyond the examples: who labelled them, from which sources."""

    annotators: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    generators: dict[str, int] = field(default_factory=dict)
    provenance: dict[str, int] = field(default_factory=dict)  # exported labels per MC evidence


def gather_facts(lake: Lake, selection: Selection, strategy: str | None = None) -> CardFacts:
    """Annotator versions and vote counts on the exported solutions (only annotators whose
    votes the labels used), the examples' sources and generators, and (given the strategy)
    how many exported labels rest on measured / inferred MC evidence."""
    examples = selection.examples
    facts = CardFacts(sources=dict(sorted(Counter(e.source or "unknown" for e in examples).items())),
                      generators=dict(sorted(Counter(e.generator for e in examples).items())))
    if not examples or not selection.annotators:
        return facts
    con = lake.connect()
    try:
        con.register("exported", pa.table({"solution_id": [e.solution_id for e in examples]}))
        con.register("used", pa.table({"annotator": selection.annotators}))
        facts.annotators = con.sql("""
            SELECT annotator, annotator_version AS version, model, config_hash,
                   count(*) AS votes, count(*) FILTER (WHERE status = 'labeled') AS labeled,
                   sum(prompt_tokens + completion_tokens)::BIGINT AS tokens,
                   sum(rollouts)::BIGINT AS rollouts
            FROM step_votes WHERE solution_id IN (SELECT solution_id FROM exported)
              AND annotator IN (SELECT annotator FROM used)
            GROUP BY ALL ORDER BY ALL""").to_arrow_table().to_pylist()
        if strategy is not None:
            facts.provenance = _provenance(con, selection, strategy)
    finally:
        con.close()
    return facts


def _provenance(con: Any, selection: Selection, strategy: str) -> dict[str, int]:
    """Exported step labels per ``details.mc_provenance`` of their consensus row."""
    pairs = [(e.solution_id, i) for e in selection.examples for i in range(len(e.labels))]
    con.register("exported_steps", pa.table({"solution_id": [p[0] for p in pairs],
                                             "step_index": pa.array([p[1] for p in pairs],
                                                                    pa.int32())}))
    rows = con.execute("""
        SELECT CASE WHEN c.status = 'human' THEN 'human'
                    ELSE coalesce(json_extract_string(c.details, '$.mc_provenance'), 'none')
               END AS kind
        FROM exported_steps e JOIN consensus c USING (solution_id, step_index)
        WHERE c.strategy = ? OR c.status = 'human'
        QUALIFY row_number() OVER (PARTITION BY e.solution_id, e.step_index
                                   ORDER BY c.status = 'human' DESC) = 1""",
                       [strategy]).fetchall()
    counts: dict[str, int] = {}
    for (kind,) in rows:
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


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


def label_balance(examples: list[Example]) -> dict[str, Any]:
    """Step labels (positive / negative) and examples with / without a wrong step."""
    labels = Counter(label for e in examples for label in e.labels)
    with_error = sum(e.first_error >= 0 for e in examples)
    steps = labels[1] + labels[0]
    return {"examples": len(examples), "steps": steps, "positive_steps": labels[1],
            "negative_steps": labels[0],
            "negative_share": round(labels[0] / steps, 4) if steps else None,
            "examples_with_error": with_error, "examples_without_error": len(examples) - with_error}


def front_matter(selection: Selection, config: ExportConfig, licence: str,
                 pretty_name: str | None) -> dict[str, Any]:
    total = len(selection.examples)
    size = next((name for limit, name in SIZE_BINS if total < limit), "n>10M")
    ext = "jsonl" if config.format == "jsonl" else "parquet"
    return {
        "license": licence,
        "pretty_name": pretty_name or f"stepforge {config.format} PRM set ({config.strategy})",
        "task_categories": ["text-classification"],
        "tags": ["process-reward-model", "step-level-supervision", "stepforge", config.format],
        "size_categories": [size],
        "configs": [{"config_name": "default", "data_files": [
            {"split": split, "path": f"data/{split}-*.{ext}"} for split in selection.splits]}],
        # no dataset_info since issue 26: datasets warned on its splits without num_bytes
    }


FORMAT_TEXT = {
    "trl": "TRL stepwise supervision (`PRMTrainer`, `trl.experimental.prm` up to TRL 1.13): "
           "`prompt` (the problem), `completions` (the steps) and `labels` (one bool per step, "
           "true = correct). TRL casts labels with `int()`, so soft labels would silently become "
           "0/1: they are in the separate column `soft_labels`, which TRL ignores.",
    "math-shepherd": "Math-Shepherd: `input` is the problem, a newline, then each step followed "
                     "by one space and the tag `{tag}`, steps separated by a newline "
                     "(`problem\\nstep 1 {tag}\\nstep 2 {tag}`); `label` is the same text with "
                     "`+` (correct) or `-` (wrong) in place of each tag. Tokenizers split `{tag}` "
                     "and ` {tag}` differently: take the tag id as the last id of "
                     "`tokenizer.encode(\" {tag}\", add_special_tokens=False)` and check that it "
                     "is one token. Steps containing the tag text were left out.",
    "processbench": "ProcessBench: `id`, `generator`, `problem`, `steps` (every step of the "
                    "solution), `final_answer_correct` and `label` (0-based index of the earliest "
                    "wrong step, -1 when every step is correct).",
    "jsonl": "JSON lines with every field: `steps`, `labels` (0/1), `probabilities`, `statuses`, "
             "`first_error`, `n_steps`, `is_correct`, ids, source and generator.",
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
    balance = {s: label_balance(rows) for s, rows in selection.splits.items()}
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# {meta['pretty_name']}", "",
             "Step-level labels for training process reward models, exported by stepforge "
             f"(`stepforge export --format {config.format}`).", "",
             "## Format", "", FORMAT_TEXT[config.format].format(tag=config.step_tag), ""]
    if config.soft_labels and config.format in ("trl", "math-shepherd"):
        lines += [f"`soft_labels[i]` is the `probability` of step i's consensus row under "
                  f"`{config.strategy}`, an estimate that the step is correct. From an MC "
                  "annotator (mc-hard, mc-soft, mc-binary) it is the MC success fraction: of the "
                  "k rollouts from the prefix ending at step i that were not cut off at "
                  "max_tokens, the share reaching the gold answer (3 of 8 -> 0.375; mc-binary "
                  "steps it did not roll out, and the last step, graded on the solution's own "
                  "answer, are 0 or 1). `majority`: the weighted mean over the voting annotators "
                  "of that fraction (MC) or the 0/1 label (others); `consensus`: the MC "
                  "annotator's fraction on agreed steps; `dawid-skene`: the posterior; a "
                  "human-reviewed step: the share of reviewers calling it correct; null when "
                  "none. Train on it with a loss of your own; TRL reads only `labels`.", ""]
    lines += ["## Splits and label balance", ""]
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
              + ".", "", "Annotators whose votes entered the labels (on the exported solutions):", ""]
    if facts.provenance:
        total = sum(facts.provenance.values())
        lines += ["Where the exported labels' MC evidence came from (measured: rollouts from "
                  "that step's prefix or the solution's graded answer; inferred: a correct "
                  "solution witnessing its steps, or a position before / after a found first "
                  "error; none: no MC vote used): " + ", ".join(
                      f"{kind} {n} ({n / total:.0%})" for kind, n in facts.provenance.items())
                  + ".", ""]
    cols = ["annotator", "version", "model", "config_hash", "votes", "labeled", "tokens", "rollouts"]
    lines += _table(cols, [[a.get(c) for c in cols] for a in facts.annotators]) if facts.annotators \
        else ["(none recorded: human labels only)"]
    lines += ["", "Options:", "", "```yaml",
              yaml.safe_dump(config.model_dump(mode="json"), sort_keys=True, allow_unicode=True).rstrip(),
              "```", "", "## Sources and licence", ""]
    lines += _table(["source", "examples"], [[s, n] for s, n in facts.sources.items()])
    lines += ["", "Solutions by generator:", ""]
    lines += _table(["generator", "examples"], [[g, n] for g, n in facts.generators.items()])
    lines += ["", f"Licence: `{hub_licence}`."]
    if unknown:
        lines.append(f"The licence of these sources is not known to stepforge: {', '.join(unknown)}; "
                     "check them (and the generators' terms) before publishing.")
    return "\n".join(lines) + "\n"
