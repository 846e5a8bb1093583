"""Evaluate step prefixes by rollouts: k completions per prefix, graded against the gold answer.

All prefixes handed to one ``evaluate_prefixes`` call travel together: every round is a single
``engine.generate`` over every prefix still open (vLLM shares their KV cache through prefix
caching; the other engines batch them). With ``settle_early`` a prefix leaves after the first
round in which ``min_correct`` rollouts reach the gold answer, so its hard label costs fewer rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from annotators.mc.config import MCConfig
from engines.base import Completion, Engine, GenerationRequest
from grading.answers import extract_answer
from grading.policy import prefix_text, solve_messages
from grading.verify import GoldAnswerError, answers_equivalent, check_gold
from schemas.ids import stable_id


@dataclass(frozen=True)
class PrefixJob:
    """The first ``size`` steps of a solution (``size`` 0 = the bare problem) to roll out from."""

    key: str  # unique per prefix, seeds its requests
    question: str
    gold: str
    steps: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.steps)


@dataclass
class PrefixEval:
    """What the rollouts of one prefix found and cost."""

    rollouts: int = 0
    correct: int = 0
    truncated: int = 0  # cut off at max_tokens: neither a success nor a failure
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    saved: int = 0  # rollouts not drawn because the prefix was settled early
    samples: list[dict] = field(default_factory=list)

    @property
    def completed(self) -> int:
        """Rollouts that ended on their own (not cut off at max_tokens)."""
        return self.rollouts - self.truncated

    @property
    def value(self) -> float:
        """The MC estimate: fraction of the completed rollouts that reached the gold answer."""
        return self.correct / self.completed if self.completed else 0.0

    def mostly_truncated(self, share: float) -> bool:
        """More than ``share`` of the rollouts were cut off: the value is not to be trusted."""
        return self.rollouts > 0 and self.truncated > share * self.rollouts

    def summary(self) -> dict:
        return {"rollouts": self.rollouts, "correct": self.correct, "truncated": self.truncated,
                "value": round(self.value, 6), "rollouts_saved": self.saved}


@dataclass
class RolloutStats:
    """Running totals over an annotator's life (benchmarks and reports read them)."""

    engine_calls: int = 0
    requests: int = 0
    prefix_evaluations: int = 0
    rollouts: int = 0
    rollouts_saved: int = 0
    rollouts_truncated: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Grader:
    """Grades rollout texts against gold answers, caching (answer, gold) verdicts: rollouts
    repeat the same few answers, and math-verify is the expensive part."""

    def __init__(self) -> None:
        self._verdicts: dict[tuple[str | None, str], bool] = {}

    def gold_problem(self, gold: str) -> str | None:
        """Why ``gold`` cannot serve as a reference answer, or None when it can."""
        try:
            check_gold(gold)
        except GoldAnswerError as err:
            return str(err)
        return None

    def grade(self, text: str, gold: str) -> tuple[str | None, bool]:
        answer = extract_answer(text)
        key = (answer, gold)
        if key not in self._verdicts:
            self._verdicts[key] = answer is not None and answers_equivalent(answer, gold)
        return answer, self._verdicts[key]


def request_seed(base: int | None, key: str, round_index: int) -> int | None:
    """A per-(prefix, round) seed: rounds of one prefix must not redraw the same samples."""
    if base is None:
        return None
    return int(stable_id("mc-rollout", base, key, round_index), 16) % (2**31 - 1)


def rollout_request(job: PrefixJob, n: int, round_index: int, config: MCConfig) -> GenerationRequest:
    return GenerationRequest(
        messages=tuple(solve_messages(job.question)),
        continuation=prefix_text(job.steps) or None,
        n=n, max_tokens=config.max_tokens, temperature=config.temperature, top_p=config.top_p,
        stop=tuple(config.stop), seed=request_seed(config.seed, job.key, round_index),
    )


def _record(result: PrefixEval, job: PrefixJob, completion: Completion, grader: Grader,
            config: MCConfig) -> None:
    """Grade each rollout on the answer it states itself: a \\boxed{} or "The answer is" left in
    the prefix is the solution's, not the rollout's. A rollout cut off at max_tokens is counted
    as truncated and not graded."""
    result.requests += 1
    result.prompt_tokens += completion.prompt_tokens
    result.completion_tokens += completion.completion_tokens
    reasons = list(completion.finish_reasons)
    for index, text in enumerate(completion.texts):
        result.rollouts += 1
        if index < len(reasons) and reasons[index] == "length":
            result.truncated += 1
            answer, ok, truncated = None, False, True
        else:
            (answer, ok), truncated = grader.grade(text, job.gold), False
            result.correct += ok
        if len(result.samples) < config.samples_kept:
            result.samples.append({"text": text[: config.sample_chars], "answer": answer,
                                   "correct": ok, "truncated": truncated})


def evaluate_prefixes(engine: Engine, jobs: Sequence[PrefixJob], config: MCConfig,
                      grader: Grader, stats: RolloutStats, settle_early: bool) -> list[PrefixEval]:
    """Roll out k times from every job's prefix, in rounds, one batched engine call per round."""
    results = [PrefixEval() for _ in jobs]
    size = config.round_size(settle_early)
    open_ = list(range(len(jobs)))
    round_index = 0
    while open_:
        requests = [rollout_request(jobs[i], min(size, config.k - results[i].rollouts),
                                    round_index, config) for i in open_]
        completions = engine.generate(requests)
        if len(completions) != len(requests):
            raise RuntimeError(f"engine {engine.model_id} returned {len(completions)} "
                               f"completions for {len(requests)} requests")
        for i, request, completion in zip(open_, requests, completions):
            if len(completion.texts) != request.n:
                raise RuntimeError(f"engine {engine.model_id} returned {len(completion.texts)} "
                                   f"samples for a request of n={request.n}")
            _record(results[i], jobs[i], completion, grader, config)
        stats.engine_calls += 1
        stats.requests += len(requests)
        still = []
        for i in open_:
            if results[i].rollouts >= config.k:
                continue
            if settle_early and config.early_stop and results[i].correct >= config.min_correct:
                results[i].saved = config.k - results[i].rollouts
                continue
            still.append(i)
        open_, round_index = still, round_index + 1
    for result in results:
        stats.prefix_evaluations += 1
        stats.rollouts += result.rollouts
        stats.rollouts_saved += result.saved
        stats.rollouts_truncated += result.truncated
        stats.prompt_tokens += result.prompt_tokens
        stats.completion_tokens += result.completion_tokens
    return results
