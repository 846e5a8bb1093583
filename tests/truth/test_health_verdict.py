"""Label health against the situation it describes: the run summary and the report print the
same verdict with the same reasons, and the verdict is the one the situation calls for.

The lakes are built as the pipeline builds them: the real mc-binary and judge annotators on
scripted engines write their votes through the Lake API, the real reconcile runs. The expected
verdicts are written from the situation, not from the code under test:

- the policy never solves a problem, so MC skips every step as unsolvable, and the judge labels
  every step: no label has two votes behind it, whatever the strategy. Nothing is usable
  (issue #23, defect 6: the report called majority, the judge alone, usable);
- the policy solves every problem from the bare question and from every prefix without the
  planted mistake, and the judge flags the planted mistake: MC and the judge agree on every
  step, so the export's strategy (consensus) is usable.
"""

from __future__ import annotations

import html
import json
import re

import pytest

from annotators.registry import build_annotator
from engines.scripted import ScriptedEngine, request_text
from export.config import ExportConfig
from reconcile import ReconcileConfig, reconcile
from schemas import Problem, Solution

GOLD = "42"
MISTAKE = "oops"  # a step carrying it is the planted first error


def _solution(problem: Problem, tag: str, n: int, error_at: int | None, correct: bool) -> Solution:
    steps = [f"Step {j + 1}: work {tag}{j}" + (f" {MISTAKE}" if error_at is not None
                                                and j >= error_at else "") for j in range(n)]
    steps[-1] += f" The answer is: {GOLD if correct else '41'}"
    return Solution(problem_id=problem.problem_id, generator="policy", text="\n\n".join(steps),
                    steps=steps, is_correct=correct, finish_reason="stop")


def judge_reply(request, _i: int) -> str:
    """A judge that flags the first step carrying the planted mistake (none: all correct)."""
    steps = re.findall(r"<step_(\d+)>(.*?)</step_\1>", request_text(request), re.S)
    first = next((int(k) for k, text in steps if MISTAKE in text), None)
    verdicts = [{"step": int(k), "reasoning": "checked",
                 "verdict": "incorrect" if first is not None and int(k) >= first else "correct"}
                for k, _ in steps]
    return json.dumps({"steps": verdicts, "first_error": first})


def never_solves(_request, _i: int) -> str:
    return "so on. The answer is: 7"


def solves_unless_mistaken(request, _i: int) -> str:
    """The policy reaches the gold answer from any prefix without the planted mistake."""
    return "The answer is: " + ("7" if MISTAKE in (request.continuation or "") else GOLD)


def build_lake(lake, policy, solutions_of) -> int:
    """3 problems, their solutions, mc-binary and judge votes, reconciled; returns the steps."""
    problems = [Problem(question=f"Problem {i}: what is six times seven?", reference_answer=GOLD)
                for i in range(3)]
    solutions = [s for p in problems for s in solutions_of(p)]
    lake.append("problems", problems)
    lake.append("solutions", solutions)
    by_id = {p.problem_id: p for p in problems}
    for name, engine, config in (("mc-binary", ScriptedEngine(policy, model_id="policy"),
                                  {"max_tokens": 20}),
                                 ("judge", ScriptedEngine(judge_reply), {})):
        annotator = build_annotator(name, config, {"default": engine})
        lake.append("step_votes", list(annotator.annotate(by_id, solutions)))
    reconcile(lake, ReconcileConfig())
    return sum(len(s.steps) for s in solutions)


def unsolved(problem: Problem) -> list[Solution]:
    # the judge catches one wrong solution and passes the other (its mistake is not marked)
    return [_solution(problem, "a", 4, 1, False), _solution(problem, "b", 3, None, False)]


def solved(problem: Problem) -> list[Solution]:
    return [_solution(problem, "a", 4, 1, False), _solution(problem, "b", 3, None, True)]


def summary_says(lake, export: ExportConfig | None) -> tuple[str, list[str]]:
    """The verdict and reasons ``stepforge run`` prints (its summary's label-health block)."""
    from pipelines.flows.run import run_health
    from report.run_summary import RunSummary, render

    text = render(RunSummary(lake=lake.uri, health=run_health(lake, export)))
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("label health: "))
    reasons = []
    for line in lines[start + 1:]:
        if not line.startswith("  - "):
            break
        reasons.append(line[4:])
    return lines[start].removeprefix("label health: "), reasons


def report_says(lake, strategy: str | None, tmp_path, run_cli) -> tuple[str, list[str]]:
    """The verdict and reasons the report's label-health panel shows (``stepforge report``)."""
    out = tmp_path / "report.html"
    status, _, err = run_cli("report", "--lake", str(lake.root), "--out", str(out),
                             *(["--strategy", strategy] if strategy else []))
    assert status == 0, err
    page = out.read_text()
    panel = page.split("<h2>Label health</h2>", 1)[1].split("<h2>", 1)[0]
    verdict = re.search(r"<p><b>(.*?)</b></p>", panel, re.S).group(1)
    return html.unescape(verdict), [html.unescape(li) for li in re.findall(r"<li>(.*?)</li>",
                                                                            panel, re.S)]


def line_of(reasons: list[str], start: str) -> str:
    return next(r for r in reasons if r.startswith(start))


@pytest.fixture(scope="module")
def judge_alone(tmp_path_factory):
    """The lake where the policy solves nothing (built once: the tests only read it)."""
    from store.lake import Lake

    lake = Lake(tmp_path_factory.mktemp("judge-alone") / "lake")
    return lake, build_lake(lake, never_solves, unsolved)


@pytest.mark.parametrize("strategy", [None, "majority"])
def test_judge_alone_is_not_usable_in_the_summary_and_in_the_report(judge_alone, tmp_path,
                                                                   run_cli, strategy):
    lake, steps = judge_alone
    verdict, reasons = summary_says(lake, ExportConfig(strategy=strategy) if strategy else None)
    in_report, report_reasons = report_says(lake, strategy, tmp_path, run_cli)
    assert in_report == verdict  # same words, both places
    assert report_reasons == reasons
    judged = strategy or "consensus"  # the export's strategy by default
    assert verdict.startswith(f"labels NOT usable under strategy {judged}"), verdict
    assert "usable instead" not in verdict  # no strategy has two votes behind a label
    assert "policy solved 0/3 problems (0/6 solutions correct)" in reasons
    # MC skipped every step, and why
    assert line_of(reasons, "mc-binary").startswith(
        f"mc-binary labelled 0/{steps} steps, skipped {steps}/{steps} (100%): {steps} (policy "
        "never solves the problem: 3 problems, 6 solutions)")
    assert f"judge parsed {steps}/{steps} (100%), 0 unparsed" in reasons  # its parse rate
    for name in ("consensus", "majority", "dawid-skene"):
        assert line_of(reasons, f"{name}: ").startswith(f"{name}: NOT usable: ")
    # consensus needs MC and the judge: every solution disputed, nothing selected
    assert "the export selects no labels (0 of 6 solutions kept, 6 disputed)" in line_of(
        reasons, "consensus: ")
    # majority is the judge alone on every step it labels (or, once reconcile marks such
    # labels single-source, labels nothing)
    majority = line_of(reasons, "majority: ")
    assert (f"{steps}/{steps} labels (100%) single-source" in majority
            and f"{steps} judge alone" in majority) or "selects no labels" in majority, majority


def test_mc_and_judge_agreeing_is_usable_in_the_summary_and_in_the_report(lake, tmp_path,
                                                                         run_cli):
    steps = build_lake(lake, solves_unless_mistaken, solved)
    verdict, reasons = summary_says(lake, None)
    in_report, report_reasons = report_says(lake, None, tmp_path, run_cli)
    assert in_report == verdict
    assert report_reasons == reasons
    assert verdict.startswith("labels usable under strategy consensus (the export's): "
                              f"{steps} labels, 0% single-source"), verdict
    assert "policy solved 3/3 problems (3/6 solutions correct)" in reasons
    assert f"mc-binary labelled {steps}/{steps} steps" in line_of(reasons, "mc-binary")
    assert f"judge parsed {steps}/{steps} (100%), 0 unparsed" in reasons
    # both annotators label every step, so no label rests on one vote under any strategy
    for name in ("consensus", "majority", "dawid-skene"):
        line = line_of(reasons, f"{name}: ")
        assert line.startswith(f"{name}: usable (") and "0%) single-source" in line, line
