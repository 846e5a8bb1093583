"""Row builders and selection rules of the export formats."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from export.formats import features, rows_sql
from export.formats.math_shepherd import shepherd_text_sql
from export.rules import dedup_groups_sql, example_sql
from export.select import ExportConfig, select

LABELLED = pa.schema([
    ("solution_id", pa.string()), ("problem_id", pa.string()), ("question", pa.string()),
    ("source", pa.string()), ("generator", pa.string()), ("steps", pa.list_(pa.string())),
    ("is_correct", pa.bool_()), ("idx", pa.list_(pa.int32())), ("labels", pa.list_(pa.int8())),
    ("probabilities", pa.list_(pa.float64())), ("statuses", pa.list_(pa.string())),
    ("used", pa.list_(pa.string()))])
SELECTED = pa.schema([
    ("solution_id", pa.string()), ("problem_id", pa.string()), ("question", pa.string()),
    ("source", pa.string()), ("generator", pa.string()), ("steps", pa.list_(pa.string())),
    ("labels", pa.list_(pa.int8())), ("probabilities", pa.list_(pa.float64())),
    ("statuses", pa.list_(pa.string())), ("n_steps", pa.int64()), ("is_correct", pa.bool_()),
    ("split", pa.string()), ("first_error", pa.int64()), ("rn", pa.int64())])


def example(**kw) -> dict:
    """A row of the selection's ``selected`` table."""
    base = dict(solution_id="s1", problem_id="p1", question="What is 1 + 1?", source="gsm8k",
                generator="g", steps=["1 + 1 = 3.", "So 3."], labels=[1, 0],
                probabilities=[0.9, 0.0], statuses=["agreed", "agreed"], n_steps=3,
                is_correct=False, split="train", rn=0)
    row = {**base, **kw}
    row["first_error"] = row["labels"].index(0) if 0 in row["labels"] else -1
    return row


def build_row(row: dict, config: ExportConfig) -> dict:
    """The format's row of one example, computed by the export's SQL."""
    con = duckdb.connect()
    con.register("selected", pa.Table.from_pylist([row], schema=SELECTED))
    return con.sql(rows_sql(config), params=["train", 0, 1]).to_arrow_table().to_pylist()[0]


def build_example(row: dict, config: ExportConfig) -> tuple[dict | None, str]:
    """(the example, "") or (None, why it is left out), by the export's SQL rules."""
    con = duckdb.connect()
    con.register("labelled", pa.Table.from_pylist([row], schema=LABELLED))
    out = con.sql(example_sql(config, "labelled")).to_arrow_table().to_pylist()[0]
    return (None, out["why"]) if out["why"] else (out, "")


def test_trl_row_has_bool_labels_and_soft_labels_apart():
    row = build_row(example(), ExportConfig(format="trl"))
    assert row["prompt"] == "What is 1 + 1?"
    assert row["completions"] == ["1 + 1 = 3.", "So 3."]
    assert row["labels"] == [True, False] and all(type(x) is bool for x in row["labels"])
    assert row["soft_labels"] == [0.9, 0.0]
    assert row["solution_id"] == "s1" and row["source"] == "gsm8k"
    plain = build_row(example(), ExportConfig(format="trl", soft_labels=False, metadata=False))
    assert set(plain) == {"prompt", "completions", "labels"}
    assert set(features(ExportConfig(format="trl", soft_labels=False, metadata=False))) == set(plain)


def test_math_shepherd_text_layout_is_exact():
    row = build_row(example(), ExportConfig(format="math-shepherd", metadata=False))
    assert row["input"] == "What is 1 + 1?\n1 + 1 = 3. ки\nSo 3. ки"
    assert row["label"] == "What is 1 + 1?\n1 + 1 = 3. +\nSo 3. -"
    assert duckdb.sql("SELECT " + shepherd_text_sql("'Q'", "['a']", "'<t>'")).fetchall()[0][0] == "Q\na <t>"


def test_processbench_and_jsonl_rows():
    pb = build_row(example(steps=["a", "b", "c"]), ExportConfig(format="processbench"))
    assert pb == {"id": "s1", "generator": "g", "problem": "What is 1 + 1?",
                  "steps": ["a", "b", "c"], "final_answer_correct": False, "label": 1}
    assert build_row(example(labels=[1, 1], steps=["a", "b"]),
                     ExportConfig(format="processbench"))["label"] == -1
    js = build_row(example(), ExportConfig(format="jsonl"))
    assert js["labels"] == [1, 0] and js["first_error"] == 1 and js["n_steps"] == 3
    assert list(js) == list(features(ExportConfig(format="jsonl")))
    for fmt in ("trl", "math-shepherd", "processbench"):
        config = ExportConfig(format=fmt)
        assert list(build_row(example(), config)) == list(features(config))


def row(labels, steps=None, idx=None):
    steps = steps or [f"step {i}" for i in range(len(labels))]
    idx = idx if idx is not None else list(range(len(labels)))
    return {"solution_id": "s", "problem_id": "p", "question": "Q", "source": "", "generator": "g",
            "steps": steps, "is_correct": None, "idx": idx, "labels": [labels[i] for i in idx],
            "probabilities": [None] * len(idx), "statuses": ["agreed"] * len(idx), "used": []}


def test_truncation_after_first_error_is_default_and_optional():
    ex, _ = build_example(row([1, 0, 0, 1]), ExportConfig())
    assert ex["steps"] == ["step 0", "step 1"] and ex["labels"] == [1, 0]
    ex, _ = build_example(row([1, 0, 0, 1]), ExportConfig(truncate_after_first_error=False))
    assert ex["labels"] == [1, 0, 0, 1] and len(ex["steps"]) == 4
    pb, _ = build_example(row([1, 0, 0, 1]), ExportConfig(format="processbench",
                                                           truncate_after_first_error=False))
    assert pb["steps"] == ["step 0", "step 1", "step 2", "step 3"] and pb["labels"] == [1, 0]


def test_gaps_drop_or_give_a_prefix():
    gap = row([1, 1, 0, 1], idx=[0, 2, 3])  # step 1 unlabelled
    assert build_example(gap, ExportConfig()) == (None, "incomplete labels")
    ex, _ = build_example(gap, ExportConfig(partial="prefix"))
    assert ex["steps"] == ["step 0"] and ex["labels"] == [1]
    assert build_example(gap, ExportConfig(partial="prefix", format="processbench"))[0] is None
    # a gap after the first error does not matter when truncating
    ex, _ = build_example(row([0, 1, 1], idx=[0]), ExportConfig())
    assert ex["labels"] == [0]
    # no label on step 0: nothing to export even as a prefix; labels past the last step ignored
    assert build_example(row([1, 1], idx=[1]), ExportConfig(partial="prefix"))[1] == \
        "incomplete labels"
    over = {**row([1, 1]), "idx": [0, 1, 2], "labels": [1, 1, 0], "probabilities": [None] * 3,
            "statuses": ["agreed"] * 3}
    assert build_example(over, ExportConfig())[0]["labels"] == [1, 1]


def test_max_steps_and_step_tag_collision():
    assert build_example(row([1, 1, 1]), ExportConfig(max_steps=2)) == (None, "too many steps")
    tagged = row([1, 1], steps=["a ки", "b"])
    assert build_example(tagged, ExportConfig(format="math-shepherd"))[1] == \
        "step contains the step tag"
    assert build_example(tagged, ExportConfig(format="trl"))[0] is not None


def test_dedup_keeps_one_and_drops_conflicts():
    same = [example(solution_id="b", steps=["1 + 1 = 3.  ", "So 3."]),
            example(solution_id="a", generator="other", steps=["1 + 1 = 3.", "So 3.\r\n"])]
    conflict = [example(problem_id="p2", solution_id="c"),
                example(problem_id="p2", solution_id="d", labels=[1, 1])]
    con = duckdb.connect()
    con.register("examples", pa.Table.from_pylist(same + conflict, schema=SELECTED))
    groups = con.sql(dedup_groups_sql("examples") + " ORDER BY keep").to_arrow_table().to_pylist()
    assert groups == [{"n": 2, "variants": 1, "keep": "a"}, {"n": 2, "variants": 2, "keep": "c"}]


def test_select_reads_consensus_with_human_override(labelled_lake):
    lake, problems, sols = labelled_lake
    sel = select(lake, ExportConfig(test_fraction=0.0))
    by_id = {e.solution_id: e for e in sel.examples}
    assert set(sel.splits) == {"train"}
    assert sols[2].solution_id not in by_id                       # disputed step 1
    assert by_id[sols[4].solution_id].labels == (1, 1)            # human wins over agreed 0, 0
    assert by_id[sols[1].solution_id].labels == (1, 0)            # truncated after the error
    assert by_id[sols[5].solution_id].steps == tuple(sols[5].steps[:3])
    assert len({e.problem_id for e in sel.examples if e.problem_id == problems[0].problem_id}) == 1
    assert sel.dropped == {"incomplete labels": 1, "duplicate": 1}
    assert sel.annotators == ["human", "judge", "mc-binary"]
    no_human = select(lake, ExportConfig(human_override=False, test_fraction=0.0))
    assert {e.solution_id: e for e in no_human.examples}[sols[4].solution_id].labels == (0,)


def test_select_filters_by_probability_annotators_and_status(labelled_lake):
    lake, _, sols = labelled_lake
    strict = select(lake, ExportConfig(min_probability=0.8, test_fraction=0.0))
    assert sols[1].solution_id not in {e.solution_id for e in strict.examples}  # p = 0.75
    only_human = select(lake, ExportConfig(statuses=["human"], test_fraction=0.0))
    assert [e.solution_id for e in only_human.examples] == [sols[4].solution_id]
    mc = select(lake, ExportConfig(annotators=["mc-binary", "judge"], test_fraction=0.0))
    assert sols[4].solution_id not in {e.solution_id for e in mc.examples}
    with pytest.raises(ValueError):
        ExportConfig(min_probability=0.3)
