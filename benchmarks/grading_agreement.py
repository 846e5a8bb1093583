"""Benchmark: agreement of stepforge's grader with math-verify's own parse + verify on the
answer-pair corpus (tests/truth/grading_corpus.jsonl, human verdicts), and mismatches on the
full GSM8K GPT-3 solutions file (5,276 solutions with the dataset's is_correct).

Per category: pairs, stepforge = human verdict, math-verify = human verdict, stepforge =
math-verify. Targets: stepforge agrees with math-verify on 100% of the pairs outside the
deliberate differences of grading/differences.py, gives the human verdict on every pair, and
has 0 GSM8K mismatches. math-verify is run live (default settings), not read from the corpus.

    .venv/bin/python benchmarks/grading_agreement.py [--append docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grading.differences import DIFFERENCES  # noqa: E402
from tests.truth.grading_support import (  # noqa: E402
    GPT3_SOLUTIONS, gpt3_file, grade_gpt3_file, load_corpus, math_verify_verdict,
    stepforge_verdict,
)


def evaluate() -> dict:
    rows = load_corpus()
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    outside = outside_agree = listed_mv_wrong = 0
    for row in rows:
        sf = stepforge_verdict(row["form"], row["answer"], row["gold"])
        mv = math_verify_verdict(row["form"], row["answer"], row["gold"])
        counts = per[row["category"]]
        counts[0] += 1
        counts[1] += sf == row["truth"]
        counts[2] += mv == row["truth"]
        counts[3] += sf == mv
        if "exception" not in row:
            outside += 1
            outside_agree += sf == mv
        else:
            listed_mv_wrong += mv != row["truth"]
    path = gpt3_file()
    started = time.perf_counter()
    graded, mismatches = grade_gpt3_file(path) if path else (0, [])
    return {"per": dict(per), "pairs": len(rows), "outside": outside,
            "outside_agree": outside_agree,
            "exception_rows": sum("exception" in row for row in rows),
            "listed_mv_wrong": listed_mv_wrong,
            "gsm8k_graded": graded, "gsm8k_mismatches": len(mismatches),
            "gsm8k_seconds": time.perf_counter() - started}


def met(res: dict) -> bool:
    per = res["per"].values()
    return (res["outside_agree"] == res["outside"] and all(c[1] == c[0] for c in per)
            and res["gsm8k_graded"] == GPT3_SOLUTIONS and res["gsm8k_mismatches"] == 0)


def markdown(res: dict, command: str) -> str:
    lines = [
        f"## Grading agreement with math-verify ({date.today().isoformat()})",
        "",
        f"- machine: {platform.node()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; command: `{command}`",
        f"- corpus: tests/truth/grading_corpus.jsonl, {res['pairs']} answer pairs with human "
        "verdicts; math-verify with its defaults (parse + verify)",
        "",
        "| category | pairs | stepforge = human | math-verify = human | stepforge = math-verify |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    totals = [0, 0, 0, 0]
    for category, c in res["per"].items():
        lines.append(f"| {category} | {c[0]} | {c[1]} | {c[2]} | {c[3]} |")
        totals = [t + v for t, v in zip(totals, c)]
    lines.append(f"| **all** | {totals[0]} | {totals[1]} | {totals[2]} | {totals[3]} |")
    agree = res["outside_agree"] / max(1, res["outside"])
    lines += [
        "",
        f"- agreement with math-verify outside the deliberate differences: "
        f"{res['outside_agree']}/{res['outside']} = {agree:.1%} (target 100%: "
        f"{'met' if agree == 1 else 'MISSED'}); overall {totals[3]}/{totals[0]} = "
        f"{totals[3] / max(1, totals[0]):.1%}",
        f"- deliberate differences (grading/differences.py): {len(DIFFERENCES)} cases, "
        f"{res['exception_rows']} corpus pairs; math-verify misses the human verdict on "
        f"{res['listed_mv_wrong']} of them",
        f"- stepforge = human verdict: {totals[1]}/{totals[0]}; math-verify = human verdict: "
        f"{totals[2]}/{totals[0]}",
        f"- GSM8K GPT-3 solutions: {res['gsm8k_mismatches']} mismatches with is_correct of "
        f"{res['gsm8k_graded']:,} graded (target 0 of {GPT3_SOLUTIONS:,}: "
        f"{'met' if res['gsm8k_mismatches'] == 0 and res['gsm8k_graded'] == GPT3_SOLUTIONS else 'MISSED'})"
        f", {res['gsm8k_seconds']:.1f} s",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--append", help="append the results to this markdown file")
    args = parser.parse_args()
    res = evaluate()
    command = ("python benchmarks/grading_agreement.py " + " ".join(sys.argv[1:])).strip()
    text = markdown(res, command)
    print(text)
    if args.append:
        with Path(args.append).open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0 if met(res) else 1


if __name__ == "__main__":
    sys.exit(main())
