"""The export's options (the ``export:`` section and the CLI flags) and the formats they may name.

A format is a class under ``export/formats/`` registered here by ``register_format``:
``ExportConfig.format`` accepts the name of any registered format, one registered later (a
plugin's, a test's) included, and ``format_of(config)`` builds the configured one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from export.formats.base import ExportFormat

DEFAULT_STEP_TAG = "ки"
_FORMATS: dict[str, type[ExportFormat]] = {}  # name -> format class, in registration order


def _described() -> str:
    """The registered formats with their summaries: the ``format`` field's description."""
    return ", ".join(f"{name} ({cls.summary})" for name, cls in _FORMATS.items())


def _format_schema(schema: dict[str, Any]) -> None:
    """The ``format`` field's JSON schema: a string naming a registered format."""
    schema.update(type="string", enum=list(_FORMATS), description=_described())


class ExportConfig(BaseModel):
    """What to export and how it is labelled. Loaded from the ``export:`` section and flags."""

    model_config = ConfigDict(extra="forbid")

    # The value is checked against the registry by ``_registered``; the JSON schema (and so the
    # CLI's choices and help, pipelines/flags.py) lists the registered formats (``_format_schema``).
    format: str = Field("trl", description="export format", json_schema_extra=_format_schema)
    strategy: str = Field("consensus", description="consensus strategy whose labels are exported")
    statuses: list[Literal["agreed", "human"]] = Field(
        default_factory=lambda: ["agreed", "human"],
        description="consensus statuses that count as labels (disputed steps never do; "
        "single-source steps only with --force)")
    human_override: bool = Field(
        True, description="a step with a human consensus row under any strategy takes the "
        "latest human label (human wins)")
    annotators: list[str] | None = Field(
        None, description="keep only step labels whose consensus used votes of all of these "
        "annotators (e.g. mc-binary,judge)")
    min_probability: float | None = Field(
        None, ge=0.5, le=1.0, description="keep only step labels whose consensus probability of "
        "the chosen label is at least this (rows without a probability pass)")
    max_steps: int | None = Field(None, ge=1, description="skip solutions with more steps")
    truncate_after_first_error: bool = Field(
        True, description="Qwen's rule: drop the steps (and labels) after the first negative step")
    partial: Literal["drop", "prefix"] = Field(
        "drop", description="a solution with an unlabelled step before its example is complete: "
        "drop it, or export the labelled prefix (not for processbench)")
    dedup: bool = Field(True, description="export identical (problem, steps) once; identical "
                        "content with conflicting labels is dropped")
    test_fraction: float = Field(0.1, ge=0.0, le=1.0,
                                 description="share of problems (by hash) in the test split")
    split_salt: str = Field("stepforge", description="salt of the problem hash deciding the split")
    soft_labels: bool = Field(True, description="add the consensus probability of each step "
                              "being correct (MC fraction, vote share, posterior) as soft_labels")
    verifier: list[str] = Field(
        default_factory=lambda: ["judge"], min_length=1,
        description="verifier-sft: annotators whose answers become examples (their newest run "
        "per solution; judge and spare keep their prompt and answer text)")
    step_tag: str = Field(DEFAULT_STEP_TAG, description="math-shepherd: the tag after each step")
    metadata: bool = Field(True, description="add solution_id, problem_id, generator and source "
                           "columns")
    force: bool = Field(False, description="write the set even when its labels fail the "
                        "information checks (one label value on every step, every label from "
                        "one annotator that skipped or could not parse most of its votes, or "
                        "single-source steps: these are then exported as labels, and the card "
                        "says so)")
    # where the export runs, not what it writes: left out of the card (exclude)
    memory_limit: str | None = Field(None, exclude=True, description="DuckDB memory limit while "
                                     "selecting and writing, e.g. 4GB (default: an eighth of the "
                                     "machine's RAM); beyond it DuckDB spills to temp_directory")
    temp_directory: str | None = Field(None, exclude=True, description="folder for the scratch "
                                       "DuckDB file and its spill (default: the system temp folder)")

    @field_validator("format", mode="plain")
    @classmethod
    def _registered(cls, value: Any) -> str:
        """A registered format's name; otherwise the error a ``Literal`` of the names gives."""
        if isinstance(value, str) and value in _FORMATS:
            return value
        names = [repr(name) for name in _FORMATS]
        expected = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})


def label_statuses(config: ExportConfig) -> list[str]:
    """The consensus statuses exported as labels: ``statuses``, plus ``single-source`` (one
    annotator's labeled vote alone) when ``force`` is given."""
    return list(config.statuses) + (["single-source"] if config.force else [])


def register_format(cls: type[ExportFormat]) -> type[ExportFormat]:
    """Make ``cls`` (an ``export.formats.base.ExportFormat`` subclass) the format named
    ``cls.name``; returns it, so it also serves as a class decorator. Registering the same class
    again does nothing; another class under a taken name is refused."""
    held = _FORMATS.get(cls.name)
    if held is not None and held is not cls:
        raise ValueError(f"export format {cls.name!r} is already registered ({held.__module__}."
                         f"{held.__qualname__})")
    _FORMATS[cls.name] = cls
    return cls


def unregister_format(name: str) -> None:
    """Forget the format ``name`` (a test's own, when it is done)."""
    _FORMATS.pop(name, None)


def format_names() -> tuple[str, ...]:
    """The registered formats, in registration order (the built-in ones first)."""
    return tuple(_FORMATS)


def format_class(name: str) -> type[ExportFormat]:
    """The class registered under ``name``."""
    try:
        return _FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown export format {name!r} (registered: "
                         f"{', '.join(_FORMATS) or 'none'})") from None


def format_of(config: ExportConfig) -> ExportFormat:
    """The configured format, built with the options."""
    return format_class(config.format)(config)

