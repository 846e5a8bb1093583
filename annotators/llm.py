"""One base for the annotators that ask an LLM for step verdicts (judge, SPARE, SPARK).

What they share lives here: the settings (``LLMConfig``), one conversation per solution
(``Ask``: prompt, the answer's declared shape, parsing, raw text kept), the rounds with retries
(``converse``: one engine call per round, retries only for unreadable answers), the stamp and
the vote builders. A subclass of ``LLMAnnotator`` keeps only what differs: its templates, how
it asks about one solution (``ask_for``: prompt + shape + parser, from its answer style in
annotators/styles/) and how a read answer becomes vote fields (``labeled``). Solutions the
annotator cannot judge are ``skipped`` with a reason (``skip_reason``; every cut-off solution,
``finish_reason == "length"``, as MC does), never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from annotators import prompts
from annotators.base import EngineRole, Listing, Stamp, apportion, config_hash as hash_config
from annotators.transcript import keep_transcript
from annotators.verdicts import ParseError, Resolution, Verdicts, clip
from engines.base import Completion, Constraint, Engine, GenerationRequest, TwoPart
from schemas import Problem, RecordError, Solution, StepVote, stable_id

Skip = tuple[str, str]  # (skip_kind, reason)

__all__ = ["Ask", "LLMAnnotator", "LLMConfig", "REASONING_CHARS", "Reading", "Skip", "Stamp", "TRUNCATED",
           "UNCRITIQUED", "converse",
           "engine_for", "pair", "resolved_fields", "skipped_fields", "solution_votes",
           "truncation_skip", "unparsed_fields"]


class LLMConfig(BaseModel):
    """Settings every LLM-labelling annotator shares (judge, spare, spark)."""

    model_config = ConfigDict(extra="forbid")

    engine: EngineRole = Field("default", description="engine role of the judge model (e.g. 'judge' "
                        "for a large model behind an OpenAI-compatible server)")
    max_tokens: int = Field(2048, ge=1, description="max new tokens per answer (room to reason: "
                            "ThinkPRM uses 8192)")
    temperature: float = Field(0.0, ge=0.0, description="sampling temperature (0 = greedy)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling")
    seed: int | None = Field(0, description="base seed; each request's seed is derived from it, "
                             "the solution id and the round (None = unseeded)")
    retries: int = Field(2, ge=0, description="times an unreadable answer is sent back with the "
                         "parse error before the solution's votes are stored as unparsed")
    raw_chars: int = Field(2000, ge=200, description="characters of an unreadable answer kept "
                           "in the unparsed votes' rationale (head and tail)")
    constrained: bool = Field(True, description="enforce the answer's shape while decoding "
                              "(JSON schema or grammar; engines that cannot fall back to free "
                              "text + parsing)")
    reasoning_chars: int = Field(0, ge=0, description="max characters of the optional per-step "
                                 "rationale inside the verdict block (0: none; the free "
                                 "reasoning before the block holds the thinking, as long as "
                                 "max_tokens minus the block allows)")
    informed: bool = Field(True, description="false for a model too small to judge (the "
                           "embedded preset): its votes say so and the label-health line "
                           "calls its verdicts uninformed")


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
    constraint: Constraint | TwoPart | None = None
    details: dict[str, Any] = field(default_factory=dict)  # copied onto every vote
    followups: list["Ask"] = field(default_factory=list)  # second-stage asks (SPARK's meta)
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
                                 top_p=config.top_p,
                                 constraint=self.constraint if config.constrained else None)

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


def engine_for(name: str, role: str, engines: Mapping[str, Engine]) -> Engine:
    if role not in engines:
        raise ValueError(f"{name}: engine role {role!r} not configured (have {sorted(engines)})")
    return engines[role]


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


def skipped_fields(solution: Solution, skip: Skip) -> list[dict[str, Any]]:
    """Vote fields for a solution the annotator does not judge: ``details.skip_kind`` is the
    short key label health counts (as MC's), ``reason`` the sentence."""
    kind, reason = skip
    return [dict(status="skipped", rationale=reason,
                 details={"reason": reason, "skip_kind": kind})
            for _ in solution.steps]


TRUNCATED = ("truncated_solution", "the solution was cut off at max_tokens (finish_reason="
             "length): it states no answer and its last step is unfinished, so it is not judged")


def truncation_skip(solution: Solution) -> Skip | None:
    """A cut-off solution is skipped (MC skips it with the same kind): no engine call."""
    return TRUNCATED if solution.finish_reason == "length" else None


UNCRITIQUED = ("not_critiqued", "the judge's index implies this step's label but its critique "
               "never checked the step: no verdict covers it, so no label is stored")
REASONING_CHARS = 20000  # the judge's free reasoning kept on the first vote of a solution


def resolved_fields(verdicts: Verdicts, resolution: Resolution,
                    common: dict[str, Any]) -> list[dict[str, Any]]:
    """Labelled vote fields from one read answer and its consistent labels; steps no verdict
    covers (``resolution.unlabelled``) get skipped votes. The free reasoning of a two-part
    answer is kept once, on step 0's vote (``details.reasoning``)."""
    out = []
    for i, (verdict, label) in enumerate(zip(verdicts.steps, resolution.labels)):
        said = ("correct" if verdict.label else "incorrect") if verdict.judged else None
        details = {"verdict": said,
                   "source": resolution.sources[i], "first_error": resolution.first_error,
                   **common}
        if i == 0 and verdicts.reasoning is not None:
            details["reasoning"] = clip(verdicts.reasoning, REASONING_CHARS)
        if resolution.conflict:
            details.update(conflict=resolution.conflict, **resolution.notes)
        if i in resolution.unlabelled:
            kind, reason = UNCRITIQUED
            out.append(dict(status="skipped", rationale=reason,
                            details={**details, "verdict": None, "skip_kind": kind,
                                     "reason": reason}))
            continue
        out.append(dict(status="labeled", label=label, score=float(label),
                        rationale=verdict.rationale, details=details))
    return out


# ---- the base --------------------------------------------------------------------------------

class LLMAnnotator:
    """Asks an LLM about each solution and turns its readable answers into votes.

    Subclasses set ``VERSION``, ``config_model`` and ``names`` (what the registry reads) and
    implement ``templates``, ``ask_for`` and ``labeled``; they may
    override ``skip_reason`` (solutions they cannot judge), ``after_converse`` (a second stage,
    e.g. SPARK's meta-critique, kept in each ask's ``followups``) and ``common`` (details on
    every vote). Per-call state lives on the asks, never on the annotator: one instance serves
    concurrent batches.
    """

    VERSION: ClassVar[str] = "1.0"
    config_model: ClassVar[type[LLMConfig]] = LLMConfig  # what ``settings.<name>`` is read as
    names: ClassVar[tuple[Listing, ...]] = ()  # the names it is registered under

    def __init__(self, name: str, config: LLMConfig, engine: Engine):
        self.name, self.config, self.engine = name, config, engine
        self.version = f"{self.VERSION}+{prompts.fingerprint(*self.templates(), 'retry')}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r})"

    @classmethod
    def build(cls, name: str, config: LLMConfig, engines: Mapping[str, Engine]) -> "LLMAnnotator":
        """Registry entry point: a validated ``config``, ``engines`` by role."""
        return cls(name, config, engine_for(name, config.engine, engines))

    @property
    def config_hash(self) -> str:
        return hash_config(self.config, self.name)

    def stamp(self) -> Stamp:
        return Stamp(self.name, self.version, self.config_hash, self.engine.model_id)

    # -- what a subclass says ---------------------------------------------------------------

    def templates(self) -> list[str]:
        """Names of the prompt templates used (their text is part of the version)."""
        raise NotImplementedError

    def ask_for(self, problem: Problem, solution: Solution) -> Ask:
        raise NotImplementedError

    def labeled(self, solution: Solution, ask: Ask, common: dict[str, Any]) -> list[dict[str, Any]]:
        """Vote fields for a solution with at least one readable answer."""
        raise NotImplementedError

    def skip_reason(self, problem: Problem, solution: Solution) -> Skip | None:
        """``(skip_kind, reason)`` for a solution this annotator cannot judge, else None."""
        return None

    def after_converse(self, matched: list[tuple[Problem, Solution, Ask]]) -> None:
        """A second stage over the first answers (nothing by default); its asks go into
        ``ask.followups``."""

    def common(self, ask: Ask) -> dict[str, Any]:
        out: dict[str, Any] = {**ask.details, "attempts": ask.attempts, **self.notes()}
        if ask.errors:
            out["errors"] = ask.errors
        return out

    def notes(self) -> dict[str, Any]:
        """Details label health reads per judge: a server that refused the constrained shape
        (free text was sent instead) and a model too small to judge (``informed: false``)."""
        out: dict[str, Any] = {}
        refused = getattr(self.engine, "constraints_refused", None) or \
            getattr(self.engine, "grammar_refused", None)
        if refused:
            out["constraints_refused"] = f"{getattr(self.engine, 'base_url', 'the server')}: " \
                                         f"{str(refused)[:200]}"
        if not self.config.informed:
            out["informed"] = False
        return out

    def tokens(self, ask: Ask) -> tuple[int, int]:
        """Every request about the solution: its ask's rounds and any follow-up asks."""
        asks = [ask, *ask.followups]
        return sum(a.prompt_tokens for a in asks), sum(a.completion_tokens for a in asks)

    # -- the shared loop --------------------------------------------------------------------

    def annotate(self, problems: Mapping[str, Problem],
                 solutions: Sequence[Solution]) -> Iterator[StepVote]:
        """One vote per step of every solution; one engine call per round for the batch."""
        stamp = self.stamp()
        asks: dict[str, Ask] = {}
        skipped: dict[str, Skip] = {}
        matched = []
        rendered: dict[str, list[dict[str, str]]] = {}  # each ask's prompt before any retry
        for problem, solution in zip(pair(problems, solutions), solutions):
            reason = truncation_skip(solution) or self.skip_reason(problem, solution)
            if reason:
                skipped[solution.solution_id] = reason
            else:
                asks[solution.solution_id] = ask = self.ask_for(problem, solution)
                rendered[solution.solution_id] = [dict(m) for m in ask.messages]
                matched.append((problem, solution, ask))
        converse(self.engine, list(asks.values()), self.config, self.config.retries)
        self.after_converse(matched)
        for solution in solutions:
            if solution.solution_id in skipped:
                fields = skipped_fields(solution, skipped[solution.solution_id])
                yield from solution_votes(stamp, solution, (0, 0), fields)
                continue
            ask = asks[solution.solution_id]
            common = self.common(ask)
            if ask.parsed:
                fields = self.labeled(solution, ask, common)
                keep_transcript(fields, rendered[solution.solution_id],
                                [r.text for r in ask.parsed], bool(ask.followups))
            else:
                common.pop("errors", None)
                fields = unparsed_fields(solution, ask, self.config.raw_chars, **common)
            yield from solution_votes(stamp, solution, self.tokens(ask), fields)
