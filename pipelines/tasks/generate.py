"""Generation logic: problems in, step-split and graded Solutions out (no Prefect here).

Each problem is sampled ``samples`` times with a per-problem seed derived from the config seed
and the problem id, so a problem's solutions do not depend on how problems were batched, and a
re-run with the same config reproduces them (and their content-derived ids).
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from engines.base import Completion, Engine, GenerationRequest
from grading.answers import extract_answer
from grading.policy import POLICY_PROMPT_VERSION, solve_messages
from grading.steps import SplitConfig, split_steps
from grading.verify import GoldAnswerError, answers_equivalent
from schemas import Problem, Solution
from schemas.ids import stable_id

log = logging.getLogger(__name__)


class GenerateConfig(BaseModel):
    """How solutions are generated. Loaded from YAML (``generate:`` section) and CLI flags."""

    model_config = ConfigDict(extra="forbid")

    engine: str = Field("default", description="engine role (a key of the config's `engines:`) that writes solutions")
    samples: int = Field(4, ge=1, description="solutions sampled per problem")
    max_tokens: int = Field(320, ge=1, description="token budget of one solution")
    temperature: float = Field(0.7, ge=0, description="sampling temperature (0 = greedy)")
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling mass")
    seed: int = Field(0, description="base seed; each problem derives its own from it")
    batch_problems: int = Field(8, ge=1, description="problems per engine call (one Prefect task)")
    limit: int | None = Field(None, ge=1, description="generate for at most this many problems")
    source: str | None = Field(None, description="only problems whose source equals this")
    split: SplitConfig = Field(default_factory=SplitConfig, description="how steps are split")

    def fingerprint(self) -> str:
        """What determines the output besides the model (recorded as the solution's generator):
        re-running with the same fingerprint and model is a no-op."""
        sampling = self.model_dump(
            mode="json", include={"samples", "max_tokens", "temperature", "top_p", "seed", "split"}
        )
        return stable_id("generate", sampling, POLICY_PROMPT_VERSION)[:12]


def problem_seed(base_seed: int, problem_id: str) -> int:
    return int(stable_id("seed", base_seed, problem_id)[:8], 16)


def build_requests(problems: Sequence[Problem], config: GenerateConfig) -> list[GenerationRequest]:
    """One n-sample chat request per problem."""
    return [
        GenerationRequest(
            messages=solve_messages(p.question), n=config.samples, max_tokens=config.max_tokens,
            temperature=config.temperature, top_p=config.top_p,
            seed=problem_seed(config.seed, p.problem_id),
        )
        for p in problems
    ]


def grade_answer(final_answer: str | None, problem: Problem) -> bool | None:
    """True/False against the reference answer; None when there is no (parseable) reference."""
    if not problem.reference_answer:
        return None
    try:
        return answers_equivalent(final_answer, problem.reference_answer)
    except GoldAnswerError as exc:
        log.warning("problem %s: %s", problem.problem_id, exc)
        return None


def finish_reason(completion: Completion, index: int) -> str:
    """``length`` when the engine says sample ``index`` hit max_tokens, else ``stop`` (EOS, a
    stop string, or an engine that reports nothing)."""
    reasons = completion.finish_reasons
    return "length" if index < len(reasons) and reasons[index] == "length" else "stop"


def to_solutions(
    problem: Problem, completion: Completion, generator: str, config: GenerateConfig
) -> list[Solution]:
    """Split and grade the sampled texts of one problem; texts with no step are dropped."""
    solutions = []
    shares = max(len(completion.texts), 1)
    for index, text in enumerate(completion.texts):
        try:
            steps = split_steps(text, config.split.method, config.split.pattern)
        except ValueError:
            log.info("problem %s sample %d: no steps in output, dropped", problem.problem_id, index)
            continue
        final = extract_answer(text)
        reason = finish_reason(completion, index)
        solutions.append(Solution(
            problem_id=problem.problem_id, generator=generator, text=text, steps=steps,
            final_answer=final,
            # a text cut off at max_tokens never stated its answer: not graded (None)
            is_correct=None if reason == "length" else grade_answer(final, problem),
            split_method=config.split.method, finish_reason=reason,
            prompt_tokens=completion.prompt_tokens // shares,
            completion_tokens=completion.completion_tokens // shares,
            metadata={"generation_config": config.fingerprint(), "sample": index},
        ))
    return solutions


def generate_solutions(
    engine: Engine, problems: Sequence[Problem], config: GenerateConfig
) -> list[Solution]:
    """Sample, split and grade solutions for a batch of problems with one engine call."""
    completions = engine.generate(build_requests(problems, config))
    out: list[Solution] = []
    for problem, completion in zip(problems, completions, strict=True):
        out.extend(to_solutions(problem, completion, engine.model_id, config))
    return out


def batches(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
