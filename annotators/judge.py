"""LLM-as-a-judge: a model reads the problem and the numbered steps and gives every step a
verdict with a short rationale, plus the earliest wrong step (Qwen's "Lessons of Developing
PRMs" judge, ProcessBench's critic setup).

Styles (templates in annotators/prompts/): ``critic`` answers one JSON object
``{"steps": [{"step", "verdict", "rationale"}], "first_error"}``; ``think`` writes a ThinkPRM-style
verification chain of thought, one "Step k:" section ending in ``\\boxed{correct|incorrect}``
per step, then "Is the solution correct? Yes|No". Parsing is strict (annotators/verdicts.py);
an unreadable answer is sent back with the error, up to ``retries`` times, then the solution's
votes are stored as ``unparsed`` with the raw answer. All solutions of a call share one engine
call per round; retries go out only for the failed ones.

This module also holds the machinery spare.py and spark.py share: ``Ask`` (one conversation
about one solution), ``converse`` (rounds with retries) and the vote builders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from annotators import prompts
from annotators.base import EngineRole, apportion, config_hash as hash_config
from annotators.verdicts import (
    AfterError, ConflictRule, ParseError, Resolution, Verdicts, checked, clip, parse_critic,
    parse_think,
)
from engines.base import Completion, Engine, GenerationRequest
from schemas import Problem, RecordError, Solution, StepVote, stable_id

VERSION = "1.0"
STYLES: dict[str, tuple[str, Callable[[str, int], Verdicts]]] = {
    "critic": ("judge_critic", parse_critic),
    "think": ("judge_think", parse_think),
}

__all__ = ["Ask", "JudgeAnnotator", "JudgeConfig", "LLMConfig", "Stamp", "build", "converse"]


class LLMConfig(BaseModel):
    """Settings every LLM-labelling annotator shares (judge, spare, spark)."""

    model_config = ConfigDict(extra="forbid")

    engine: EngineRole = Field("default", description="engine role of the judge model (e.g. 'judge' "
                        "for a large model behind an OpenAI-compatible server)")
    max_tokens: int = Field(1024, ge=1, description="max new tokens per answer")
    temperature: float = Field(0.0, ge=0.0, description="sampling temperature (0 = greedy)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling")
    seed: int | None = Field(0, description="base seed; each request's seed is derived from it, "
                             "the solution id and the round (None = unseeded)")
    retries: int = Field(2, ge=0, description="times an unreadable answer is sent back with the "
                         "parse error before the solution's votes are stored as unparsed")
    raw_chars: int = Field(2000, ge=200, description="characters of an unreadable answer kept "
                           "in the unparsed votes' rationale (head and tail)")


class JudgeConfig(LLMConfig):
    """The LLM judge: prompt style and how inconsistent answers are read."""

    style: Literal["critic", "think"] = Field(
        "critic", description="critic: JSON verdicts + first_error (ProcessBench critic); think: "
        "ThinkPRM verification chain of thought with \\boxed{correct|incorrect} per step")
    on_conflict: ConflictRule = Field(
        "earliest", description="when the stated first error (or 'Is the solution correct?') "
        "disagrees with the per-step verdicts: earliest (take the earlier error), explicit "
        "(trust the stated index), verdicts (trust the verdicts), retry (ask again)")
    after_first_error: AfterError = Field(
        "negative", description="steps after the first error: negative (labelled 0, the "
        "ProcessBench/Qwen convention) or verdicts (keep the model's own verdict)")


@dataclass(frozen=True)
class Stamp:
    """Who voted: copied onto every vote."""

    annotator: str
    annotator_version: str
    config_hash: str
    model: str


@dataclass
class Reading:
    """One sampled answer and what was read from it (``value``) or why not (``error``)."""

    text: str
    value: Any = None
    error: str | None = None
    finish_reason: str = ""


@dataclass
class Ask:
    """One conversation with the model about one solution; ``read`` raises ParseError."""

    key: str
    messages: list[dict[str, str]]
    read: Callable[[str], Any]
    template: prompts.Template
    format_values: dict[str, Any]
    n: int = 1
    temperature: float | None = None  # None: the config's
    readings: list[Reading] = field(default_factory=list)  # of the latest attempt
    errors: list[str] = field(default_factory=list)  # every attempt's first error, in order
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def parsed(self) -> list[Reading]:
        return [r for r in self.readings if r.error is None]

    @property
    def failed(self) -> list[Reading]:
        return [r for r in self.readings if r.error is not None]

    def request(self, config: LLMConfig, round_index: int) -> GenerationRequest:
        seed = None if config.seed is None else int(
            stable_id("llm-judge", config.seed, self.key, round_index), 16) % (2**31 - 1)
        temperature = config.temperature if self.temperature is None else self.temperature
        return GenerationRequest(messages=tuple(self.messages), n=self.n, seed=seed,
                                 max_tokens=config.max_tokens, temperature=temperature,
                                 top_p=config.top_p)

    def take(self, completion: Completion) -> None:
        self.attempts += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        reasons = list(completion.finish_reasons) + [""] * len(completion.texts)
        self.readings = [self._read(text, reason)
                         for text, reason in zip(completion.texts, reasons)]
        if not self.readings:
            self.readings = [Reading("", None, "the engine returned no text")]
        if self.failed:
            self.errors.append(self.failed[0].error or "")

    def _read(self, text: str, finish_reason: str) -> Reading:
        try:
            return Reading(text, self.read(text), None, finish_reason)
        except ParseError as exc:
            return Reading(text, None, str(exc), finish_reason)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            # an answer shaped so oddly the reader tripped on it: still unreadable, not a crash
            return Reading(text, None, f"unreadable answer ({type(exc).__name__}: {exc})",
                           finish_reason)

    def feed_back(self) -> None:
        """Append the first unreadable answer and a user turn naming its parse error."""
        bad = self.failed[0]
        self.messages += prompts.retry_messages(self.template, bad.text, bad.error or "",
                                                **self.format_values)


def converse(engine: Engine, asks: Sequence[Ask], config: LLMConfig, retries: int) -> None:
    """Run ``asks`` in rounds: one engine call per round, holding every ask that has no readable
    answer yet; an ask stops once at least one of its samples reads."""
    pending = list(asks)
    for round_index in range(retries + 1):
        if not pending:
            return
        if round_index:
            for ask in pending:
                ask.feed_back()
        completions = engine.generate([ask.request(config, round_index) for ask in pending])
        if len(completions) != len(pending):
            raise RuntimeError(f"engine {engine.model_id} returned {len(completions)} "
                               f"completions for {len(pending)} requests")
        for ask, completion in zip(pending, completions):
            ask.take(completion)
        pending = [ask for ask in pending if not ask.parsed]


# ---- pairing and votes -----------------------------------------------------------------------

def pair(problems: Mapping[str, Problem], solutions: Sequence[Solution]) -> list[Problem]:
    """The problem of each solution; a missing one is an error naming the solution."""
    out = []
    for solution in solutions:
        if solution.problem_id not in problems:
            raise RecordError(f"solution {solution.solution_id}", "problem_id",
                              f"problem {solution.problem_id!r} was not given to the annotator")
        out.append(problems[solution.problem_id])
    return out


def solution_votes(stamp: Stamp, solution: Solution, tokens: tuple[int, int],
                   fields: Sequence[dict[str, Any]]) -> list[StepVote]:
    """One vote per step from ``fields``; the solution's tokens apportioned over its votes."""
    prompt_parts = apportion(tokens[0], len(fields))
    completion_parts = apportion(tokens[1], len(fields))
    return [StepVote(solution_id=solution.solution_id, step_index=i, model=stamp.model,
                     annotator=stamp.annotator, annotator_version=stamp.annotator_version,
                     config_hash=stamp.config_hash, prompt_tokens=prompt_parts[i],
                     completion_tokens=completion_parts[i], **f)
            for i, f in enumerate(fields)]


def unparsed_fields(solution: Solution, ask: Ask, raw_chars: int,
                    **extra: Any) -> list[dict[str, Any]]:
    """Vote fields for a solution whose answers could not be read: the raw text kept."""
    last = ask.failed[0] if ask.failed else Reading("", error="no answer")
    details = {"error": last.error, "errors": ask.errors, "attempts": ask.attempts,
               "raw_chars": len(last.text), "finish_reason": last.finish_reason, **extra}
    return [dict(status="unparsed", rationale=clip(last.text, raw_chars), details=details)
            for _ in solution.steps]


def skipped_fields(solution: Solution, reason: str) -> list[dict[str, Any]]:
    return [dict(status="skipped", rationale=reason, details={"reason": reason})
            for _ in solution.steps]


def resolved_fields(verdicts: Verdicts, resolution: Resolution,
                    common: dict[str, Any]) -> list[dict[str, Any]]:
    """Labelled vote fields from one read answer and its consistent labels."""
    out = []
    for i, (verdict, label) in enumerate(zip(verdicts.steps, resolution.labels)):
        details = {"verdict": "correct" if verdict.label else "incorrect",
                   "source": resolution.sources[i], "first_error": resolution.first_error,
                   **common}
        if resolution.conflict:
            details.update(conflict=resolution.conflict, **resolution.notes)
        out.append(dict(status="labeled", label=label, score=float(label),
                        rationale=verdict.rationale, details=details))
    return out


# ---- the judge -------------------------------------------------------------------------------

@dataclass
class JudgeAnnotator:
    """Labels each solution with one judge answer (retried when unreadable)."""

    name: str
    config: JudgeConfig
    engine: Engine
    version: str = ""

    def __post_init__(self) -> None:
        self.template = prompts.load(STYLES[self.config.style][0])
        self.version = f"{VERSION}+{prompts.fingerprint(self.template.name, 'retry')}"

    @property
    def config_hash(self) -> str:
        return hash_config(self.config, self.name)

    def ask_for(self, problem: Problem, solution: Solution) -> Ask:
        n = len(solution.steps)
        parse = STYLES[self.config.style][1]
        read = checked(lambda text: parse(text, n), self.config.on_conflict,
                       self.config.after_first_error)
        messages = self.template.messages(problem=prompts.neutralise(problem.question),
                                          steps=prompts.tagged_steps(solution.steps), n_steps=n)
        return Ask(solution.solution_id, messages, read, self.template, {"n_steps": n})

    def annotate(self, problems: Mapping[str, Problem],
                 solutions: Sequence[Solution]) -> Iterator[StepVote]:
        """One vote per step of every solution; one engine call per round for the batch."""
        asks = [self.ask_for(p, s) for p, s in zip(pair(problems, solutions), solutions)]
        converse(self.engine, asks, self.config, self.config.retries)
        stamp = Stamp(self.name, self.version, self.config_hash, self.engine.model_id)
        for solution, ask in zip(solutions, asks):
            common = {"style": self.config.style, "attempts": ask.attempts}
            if ask.parsed:
                verdicts, resolution = ask.parsed[0].value
                if verdicts.overall is not None:
                    common["overall"] = verdicts.overall
                if ask.errors:
                    common["errors"] = ask.errors
                fields = resolved_fields(verdicts, resolution, common)
            else:
                fields = unparsed_fields(solution, ask, self.config.raw_chars, **common)
            yield from solution_votes(stamp, solution, (ask.prompt_tokens,
                                                        ask.completion_tokens), fields)


def engine_for(name: str, role: str, engines: Mapping[str, Engine]) -> Engine:
    if role not in engines:
        raise ValueError(f"{name}: engine role {role!r} not configured (have {sorted(engines)})")
    return engines[role]


def build(name: str, config: dict[str, Any], engines: Mapping[str, Engine]) -> JudgeAnnotator:
    """Registry entry point: ``config`` holds JudgeConfig fields, ``engines`` maps roles."""
    cfg = JudgeConfig.model_validate(config or {})
    return JudgeAnnotator(name, cfg, engine_for(name, cfg.engine, engines))
