"""Judge styles with two-part answers: how much each style may reason per step, and whether
every answer is read, at 2048 and 8192 max_tokens for 8- and 20-step solutions.

Each style (critic, think, processbench) judges synthetic arithmetic solutions of 8 and 20
steps (one wrong step), under its two-part shape: free reasoning, then the constrained verdict
block. Two models:

- ``scripted``: a long-reasoning stand-in (engines/scripted.py) that would reason for far
  longer than any budget (a paragraph of 400 words per step, never closing its reasoning),
  so it is always budget-forced; once forced it writes the verdict block it means. Tokens are
  words.
- ``embedded``: SmolLM2-135M through the transformers engine, grammar-enforced (llguidance);
  its context is 8192 positions, so it runs at 2048 only (``--embedded-max-tokens``).

Per configuration: answers read (parse rate: solutions whose answer was read / solutions),
steps labelled / steps, reasoning tokens per answer and per step (the reasoning part of the answer counted
with the model's tokenizer, / steps), the verdict block's reserved size, forced answers, and
for reference the per-step reasoning cap of the old one-part shapes (efdb8c6's
``fitted_chars``: characters, not tokens).

    PYTHONPATH=. python benchmarks/judge_styles.py [--no-embedded] [--append docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
STYLES = ("critic", "think", "processbench")
SIZES = (8, 20)
BUDGETS = (2048, 8192)
# efdb8c6's per-step and fixed token costs of the one-part shapes and its 400-char default
OLD_COSTS = {"critic": (18, 14), "think": (15, 8), "processbench": (9, 9)}


def old_cap(style: str, n: int, max_tokens: int) -> int:
    per_step, fixed = OLD_COSTS[style]
    return max(1, min(400, (max_tokens - fixed) // n - per_step))


def chain(n: int, wrong: int, start: int = 2):
    """A problem and an n-step solution adding 3 each step, step ``wrong`` (0-based) off by one."""
    from schemas import Problem, Solution

    problem = Problem(question=f"Start with {start} and add 3, {n} times. What is the result?",
                      reference_answer=str(start + 3 * n))
    value, steps = start, []
    for k in range(n):
        value += 3 + (1 if k == wrong else 0)
        steps.append(f"Adding 3 gives {value}.")
    steps[-1] += f" The answer is \\boxed{{{value}}}."
    return problem, Solution(problem_id=problem.problem_id, generator="chain", text="\n".join(steps),
                             steps=steps, is_correct=False)


def block_for(style: str, n: int, wrong: int) -> str:
    """The verdict block the scripted model means: first error at step ``wrong``."""
    import json

    if style == "critic":
        return json.dumps({"steps": [{"step": k + 1, "verdict": "correct" if k < wrong else
                                      "incorrect"} for k in range(n)], "first_error": wrong + 1},
                          separators=(",", ":"))
    if style == "think":
        return "".join(f"Step {k + 1}: \\boxed{{{'correct' if k < wrong else 'incorrect'}}}\n"
                       for k in range(wrong + 1)) + "Is the solution correct? No"
    return f"\\boxed{{{wrong}}}"


def long_reasoner():
    """A scripted model reasoning 1200 words per step, naming each paragraph, never closing its
    reasoning; once forced it means the first error at step n // 2 (0-based)."""
    from engines.base import THINK_CLOSE, GenerationRequest
    from engines.scripted import ScriptedEngine

    def script(request: GenerationRequest, _i: int) -> str:
        style, n = request.constraint.name.split("_")[:2]  # "critic_8" / "critic_8_steps"
        n = int(n)
        if request.continuation and request.continuation.endswith(THINK_CLOSE):
            return block_for(style, n, n // 2)
        return "<think>\n" + " ".join(f"Paragraph {i}: " + "I recompute this step. " * 300
                                     for i in range(n))

    return ScriptedEngine(script, model_id="scripted-long-reasoner")


class Recorder:
    """Passes requests through and keeps every completion text (to measure the reasoning)."""

    def __init__(self, engine):
        self.engine, self.model_id, self.texts = engine, engine.model_id, []

    def generate(self, requests):
        out = self.engine.generate(requests)
        self.texts += [t for c in out for t in c.texts]
        return out

    def __getattr__(self, name):
        return getattr(self.engine, name)


def measure(engine, count, style: str, n: int, max_tokens: int, pairs) -> dict:
    from annotators.registry import build_annotator
    from annotators.styles.base import longest
    from engines.base import split_reasoning

    recorder = Recorder(engine)
    annotator = build_annotator("judge", {"style": style, "max_tokens": max_tokens,
                                          "retries": 0}, {"default": recorder})
    problems = {p.problem_id: p for p, _ in pairs}
    start = time.perf_counter()
    votes = list(annotator.annotate(problems, [s for _, s in pairs]))
    seconds = time.perf_counter() - start
    read = {v.solution_id for v in votes if v.status != "unparsed"}
    reasoning = [count(split_reasoning(t)[0]) if split_reasoning(t) else 0 for t in recorder.texts]
    return {"style": style, "steps": n, "max_tokens": max_tokens,
            "parse_rate": len(read) / len(pairs),
            "labelled": sum(v.status == "labeled" for v in votes) / len(votes),
            "reasoning": sum(reasoning) / len(reasoning),
            "reasoning_per_step": sum(reasoning) / len(reasoning) / n,
            "block_tokens": count(longest(style, n)),
            "forced": getattr(engine, "forced", None), "old_cap_chars": old_cap(style, n, max_tokens),
            "seconds": seconds}


def run_model(name: str, engine, count, budgets, solutions_per_size: int) -> list[dict]:
    rows = []
    for style in STYLES:
        for n in SIZES:
            pairs = [chain(n, n // 2, start) for start in range(2, 2 + solutions_per_size)]
            for max_tokens in budgets:
                before = getattr(engine, "forced", 0)
                row = measure(engine, count, style, n, max_tokens, pairs)
                if row["forced"] is not None:
                    row["forced"] -= before
                rows.append({"model": name, **row})
                print(rows[-1], flush=True)
    return rows


def markdown(rows: list[dict], command: str) -> str:
    lines = [f"\n## Judge styles, two-part answers: reasoning room per step ({date.today()})\n",
             f"- machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs "
             f"(shared); command: `{command}`",
             "- synthetic 8- and 20-step arithmetic solutions, one wrong step; retries 0; "
             "tokens: words for the scripted model, SmolLM2's tokenizer for the embedded one",
             "", "| model | style | steps | max_tokens | parse rate | steps labelled | "
             "reasoning tokens | reasoning tokens / step | verdict block tokens | forced | "
             "old cap (chars / step) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        forced = "-" if r["forced"] is None else str(r["forced"])
        lines.append(f"| {r['model']} | {r['style']} | {r['steps']} | {r['max_tokens']} | "
                     f"{r['parse_rate']:.2f} | {r['labelled']:.2f} | "
                     f"{r['reasoning']:.0f} | {r['reasoning_per_step']:.1f} | "
                     f"{r['block_tokens']} | {forced} | "
                     f"{r['old_cap_chars']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=int, default=2, help="solutions per size (scripted)")
    parser.add_argument("--no-embedded", action="store_true")
    parser.add_argument("--embedded-max-tokens", type=int, nargs="+", default=[2048])
    parser.add_argument("--append", help="append the results to this markdown file")
    args = parser.parse_args()
    from engines.scripted import words

    rows = run_model("scripted", long_reasoner(), words, BUDGETS, args.solutions)
    if not args.no_embedded:
        from engines.config import EngineConfig
        from engines.factory import build_engine

        engine = build_engine(EngineConfig())
        rows += run_model("embedded", engine, engine.count_tokens,
                          args.embedded_max_tokens, 1)
    command = "PYTHONPATH=. python benchmarks/judge_styles.py " + " ".join(sys.argv[1:])
    text = markdown(rows, command)
    print(text)
    if args.append:
        with open(args.append, "a", encoding="utf-8") as out:
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
