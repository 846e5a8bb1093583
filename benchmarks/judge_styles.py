"""The judge's styles on the embedded model, constrained against unconstrained, in one run.

Each style (critic, think, processbench) judges the same bundled solutions (GPT-3 solutions of
GSM8K problems from data/samples/gsm8k_model_solutions_50.jsonl) twice: with the answer's shape
enforced while decoding (llguidance) and as free text + parsing. Per configuration: parse rate
(labelled votes / votes), completion tokens, tokens per labelled step (completion tokens /
labelled votes), wall time, and how often the judge's verdict on the solution (an error found or not) matches the
graded final answer (outcome agreement; a weak check, the gold is outcome-level).

    PYTHONPATH=. python benchmarks/judge_styles.py [--solutions 6] [--max-tokens 160]
        [--append docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SAMPLE = REPO / "data" / "samples" / "gsm8k_model_solutions_50.jsonl"
STYLES = ("critic", "think", "processbench")


def solutions(count: int):
    """``count`` solutions (problem, solution) from the bundled sample, alternating the two
    generators so right and wrong final answers both appear."""
    from grading.answers import split_reference
    from schemas import Problem, Solution

    problems, out = {}, []
    for line in SAMPLE.read_text().splitlines():
        row = json.loads(line)
        body, answer = split_reference(row["ground_truth"], strip_annotations=True)
        problem = Problem(question=row["question"], reference_answer=answer,
                          reference_solution=body, source="gsm8k")
        problems[problem.problem_id] = problem
        for key in ("6b_finetuning", "175b_verification"):
            written = row.get(key)
            if not written:
                continue
            steps = [s.strip() for s in written["solution"].split("\n") if s.strip()]
            out.append(Solution(problem_id=problem.problem_id, generator=key,
                                text=written["solution"], steps=steps,
                                is_correct=written["is_correct"]))
            if len(out) == count:
                return problems, out
    return problems, out


def measure(engine, problems, sols, style: str, constrained: bool, max_tokens: int) -> dict:
    from annotators.registry import build_annotator

    annotator = build_annotator("judge", {"style": style, "constrained": constrained,
                                          "max_tokens": max_tokens, "retries": 0},
                                {"default": engine})
    start = time.perf_counter()
    votes = list(annotator.annotate(problems, sols))
    seconds = time.perf_counter() - start
    labelled = [v for v in votes if v.status == "labeled"]
    agree = judged = 0
    for s in sols:
        mine = [v for v in labelled if v.solution_id == s.solution_id]
        if mine and s.is_correct is not None:
            judged += 1
            agree += (all(v.label == 1 for v in mine)) == bool(s.is_correct)
    tokens = sum(v.completion_tokens for v in votes)
    return {"style": style, "constrained": constrained, "votes": len(votes),
            "parse_rate": len(labelled) / len(votes) if votes else 0.0,
            "tokens_per_labelled_step": tokens / len(labelled) if labelled else None,
            "completion_tokens": tokens,
            "seconds": seconds, "outcome_agreement": agree / judged if judged else None}


def markdown(rows: list[dict], args: argparse.Namespace, n_solutions: int, n_steps: int,
             command: str) -> str:
    lines = [f"\n## Judge styles on the embedded model, constrained vs free text "
             f"({date.today().isoformat()})\n",
             f"- machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs "
             f"(shared); command: `{command}`",
             f"- {n_solutions} GPT-3 solutions ({n_steps} steps) of the bundled GSM8K sample, "
             f"SmolLM2-135M judge, max_tokens {args.max_tokens}, retries 0, greedy",
             "", "| style | constrained | parse rate | completion tokens | tokens / labelled step "
             "| wall s | outcome agreement |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        tokens = "-" if r["tokens_per_labelled_step"] is None else \
            f"{r['tokens_per_labelled_step']:.1f}"
        agreement = "-" if r["outcome_agreement"] is None else f"{r['outcome_agreement']:.2f}"
        lines.append(f"| {r['style']} | {'yes' if r['constrained'] else 'no'} | "
                     f"{r['parse_rate']:.2f} | {r['completion_tokens']} | {tokens} | "
                     f"{r['seconds']:.1f} | {agreement} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--append", help="append the results to this markdown file")
    args = parser.parse_args()
    from engines.config import EngineConfig
    from engines.factory import build_engine

    engine = build_engine(EngineConfig())
    problems, sols = solutions(args.solutions)
    rows = []
    for style in STYLES:
        for constrained in (True, False):
            rows.append(measure(engine, problems, sols, style, constrained, args.max_tokens))
            print(rows[-1], flush=True)
    command = "PYTHONPATH=. python benchmarks/judge_styles.py " + " ".join(sys.argv[1:])
    text = markdown(rows, args, len(sols), sum(len(s.steps) for s in sols), command)
    print(text)
    if args.append:
        with open(args.append, "a", encoding="utf-8") as out:
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
