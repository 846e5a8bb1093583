"""``stepforge sql --describe`` and docs/sql.md: every table and view with its columns and
meaning, and empty views that say why."""

from __future__ import annotations

from pathlib import Path

from pipelines.cli import main
from schemas import Solution, StepVote
from store.describe import DOCS, columns, markdown

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "sql.md"


def test_every_view_and_column_is_described(lake):
    lake.query("SELECT 1")
    names = [name for name, _ in lake.views()]
    assert sorted(names) == sorted(DOCS), "describe every catalog view in store/describe.py"
    for name in names:
        cols = [c for c, _ in columns(lake, name)]
        assert sorted(cols) == sorted(DOCS[name].columns), f"columns of {name}"
        assert all(DOCS[name].columns.values()), f"a column of {name} has no meaning"
        lake.query(DOCS[name].example)  # the example runs


def test_docs_page_is_the_generated_one(lake):
    lake.query("SELECT 1")
    assert DOCS_PAGE.read_text() == markdown(lake), "regenerate: python -m store.describe > docs/sql.md"


def test_describe_explains_an_empty_agreement_view(lake, capsys):
    sol = Solution(problem_id="p", generator="g", text="t", steps=["a", "b"])
    lake.append("solutions", [sol])
    lake.append("step_votes", [StepVote(solution_id=sol.solution_id, step_index=i,
                                        annotator="mc-binary", annotator_version="1", label=1)
                               for i in range(2)])
    assert main(["sql", "--lake", str(lake.root), "--describe", "annotator_agreement"]) == 0
    out = capsys.readouterr().out
    assert "rows: 0" in out and "kappa" in out
    assert "needs two annotators with labels on the same step; 1 annotator has labels" in out
    assert main(["sql", "--lake", str(lake.root), "--tables", "--format", "json"]) == 0
    listed = capsys.readouterr().out
    assert '"name": "retention", "kind": "analytics", "rows": 0, "note": "no consensus rows yet' in listed
    assert main(["sql", "--lake", str(lake.root), "--describe", "nope"]) == 2
    assert "no table or view named 'nope'" in capsys.readouterr().err


def test_a_path_that_is_no_lake_is_refused_and_not_created(tmp_path, capsys):
    missing = tmp_path / "typo"
    for argv in (["sql", "SELECT 1"], ["report", "--out", str(tmp_path / "r.html")],
                 ["export", "--out", str(tmp_path / "o")], ["reconcile"], ["eval", "--gold", "x"]):
        assert main([*argv, "--lake", str(missing)]) == 2, argv
        assert f"--lake {missing} does not exist" in capsys.readouterr().err
    assert not missing.exists()
