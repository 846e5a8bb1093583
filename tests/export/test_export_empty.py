"""``stepforge export`` that would write nothing says why and what to try, exits 1 and writes
nothing (unless --allow-empty); an offline Hub push is one line naming the local copy."""

from __future__ import annotations

import socket

from pipelines.cli import main
from schemas import Problem, Solution
from tests.export.conftest import consensus_rows


def _disputed_lake(lake):
    """Two solutions, every step disputed under consensus (MC and judge first errors differ);
    majority keeps one of them."""
    problems = [Problem(question=f"q{i}", reference_answer="1") for i in range(2)]
    sols = [Solution(problem_id=p.problem_id, generator="g", text=f"t{i}", steps=["a", "b"])
            for i, p in enumerate(problems)]
    lake.append("problems", problems)
    lake.append("solutions", sols)
    rows = []
    for sol in sols:
        for row in consensus_rows(sol, [None, None]):
            row.details.update(mc_first_error=0, judge_first_error=1, mc_annotator="mc-binary",
                               judge_annotator="judge")
            rows.append(row)
    rows += consensus_rows(sols[0], [1, 1], strategy="majority")
    lake.append("consensus", rows)
    return lake


def test_empty_export_says_why_and_exits_1_writing_nothing(lake, tmp_path, capsys):
    lake = _disputed_lake(lake)
    out = tmp_path / "out"
    assert main(["export", "--lake", str(lake.root), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "all 2 solutions under strategy 'consensus' are disputed" in err
    assert "--strategy majority (1 solutions kept)" in err
    assert "2 disputed: MC and judge put the first error on different steps" in err
    assert "--allow-empty" in err and not out.exists()

    assert main(["export", "--lake", str(lake.root), "--out", str(out), "--allow-empty"]) == 0
    text = capsys.readouterr().out
    assert "no rows" in text and (out / "README.md").exists()


def test_unknown_strategy_names_the_reconciled_ones(lake, tmp_path, capsys):
    lake = _disputed_lake(lake)
    assert main(["export", "--lake", str(lake.root), "--out", str(tmp_path / "o"),
                 "--strategy", "dawid-skene"]) == 1
    err = capsys.readouterr().err
    assert "no consensus rows under strategy 'dawid-skene'" in err
    assert "stepforge reconcile --strategies dawid-skene" in err


def test_offline_push_is_one_line_naming_the_local_copy(labelled_lake, tmp_path, capsys,
                                                         monkeypatch):
    lake, _, _ = labelled_lake
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    with socket.socket() as sock:  # a port nothing listens on: the Hub is unreachable
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    out = tmp_path / "out"
    code = main(["export", "--lake", str(lake.root), "--out", str(out), "--push-to-hub",
                 "me/set", "--hub-endpoint", dead])
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "push to the Hub repository me/set failed" in lines[0]
    assert f"the local copy is complete in {out}" in lines[0]
    assert "Traceback" not in captured.err
    assert (out / "README.md").exists() and list((out / "data").glob("*.parquet"))
