"""What every annotator is: solutions in, StepVotes out, through an Engine.

An annotator is identified by ``name`` and ``version`` (bumped when its logic or prompt changes)
plus ``config_hash`` (of its typed config), which all go into each vote's id: labels from
different versions or settings never mix silently, and the pipeline can skip solutions that
already carry votes for the same (name, version, config_hash).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

from pydantic import BaseModel

from schemas import Problem, Solution, StepVote
from schemas.ids import stable_id


@dataclass(frozen=True)
class _RoleMarker:
    """Marks a config field whose value names an engine role of the project's ``engines:``."""


ENGINE_ROLE = _RoleMarker()
EngineRole = Annotated[str, ENGINE_ROLE]
"""A config field typed ``EngineRole`` (or ``EngineRole | None``) names the engine an annotator
uses; the registry reads these fields to know which engines to build, so no key-name convention
is needed."""


@dataclass(frozen=True)
class Listing:
    """One name an annotator class is registered under (annotators/registry.py reads the
    class's ``names``): the part it may play in the consensus rule (``role``: "mc", "judge" or
    None) and its order among that role's annotators (``rank``, lower first: the first of a
    role that locates a solution's first error plays it); ``config`` replaces the class's
    ``config_model`` for this name."""

    name: str
    role: str | None = None
    rank: int = 100
    config: type[BaseModel] | None = None


@dataclass(frozen=True)
class Stamp:
    """Who voted: copied onto every vote (the MC and the LLM annotators share it)."""

    annotator: str
    annotator_version: str
    config_hash: str
    model: str


@runtime_checkable
class Annotator(Protocol):
    """What the pipeline runs. A registered annotator class also says, as class attributes,
    its ``names`` (``Listing``s) and its ``config_model`` (pydantic), and builds itself with
    ``build(name, config, engines)`` from a validated config and the engines by role."""

    name: str
    version: str

    @property
    def config_hash(self) -> str: ...

    def annotate(
        self, problems: Mapping[str, Problem], solutions: Sequence[Solution]
    ) -> Iterator[StepVote]:
        """Votes for the steps of ``solutions`` (problems looked up by problem_id)."""
        ...


def config_hash(config: BaseModel, *extra: object) -> str:
    """A short stable hash of a typed config (and extra parts such as a prompt version)."""
    return stable_id("config", config.model_dump(mode="json"), *extra)[:12]


def apportion(total: int, parts: int) -> list[int]:
    """Split an integer cost over ``parts`` votes so the parts sum to ``total`` exactly."""
    if parts <= 0:
        return []
    base, rest = divmod(total, parts)
    return [base + (1 if i < rest else 0) for i in range(parts)]


def first_error(labels: Iterable[int | None]) -> int:
    """0-based index of the first step labelled 0, or -1 when none is."""
    for index, label in enumerate(labels):
        if label == 0:
            return index
    return -1
