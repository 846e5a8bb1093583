"""Every section of a config file checked and typed when the file is loaded.

First the keys: an unknown key anywhere (a stage section, an annotator's settings, a schedule, a
run input, the export or review options) fails before any work, naming the file, the section
and the key. Then the values: each section becomes its typed config, once, merged with the
command line's flags for it (a flag may replace a value the file got wrong); an error names the
file (or the command line) and the field. What loads is what the stages use: nothing downstream
validates a section again.
"""

from __future__ import annotations

from typing import Any, Iterator

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from export.config import ExportConfig
from export.write import WriteConfig
from ingest.records import IngestConfig
from pipelines.config.files import load_config
from pipelines.config.run import RunConfig
from pipelines.config.schedules import ScheduleSpec
from pipelines.tasks.annotate import AnnotateConfig
from pipelines.tasks.generate import GenerateConfig
from reconcile import ReconcileConfig
from report.evaluate import EvalConfig
from review.config import SERVE_KEYS, PullConfig, PushConfig, section_for
from schemas import RecordError


def _pick(model: type[BaseModel], section: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if k in model.model_fields}


class ExportSection(BaseModel):
    """The ``export:`` section: which labels go out (``select``) and how they are written."""

    model_config = ConfigDict(extra="forbid")

    select: ExportConfig
    write: WriteConfig

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        """A flat section (as written in a file) split between the two configs."""
        if isinstance(data, dict) and not {"select", "write"} & data.keys():
            return {"select": _pick(ExportConfig, data), "write": _pick(WriteConfig, data)}
        return data

    def run_write(self) -> WriteConfig:
        """The write options of ``stepforge run``: it replaces its own earlier export unless the
        section says otherwise (``overwrite`` defaults to on)."""
        if "overwrite" in self.write.model_fields_set:
            return self.write
        return self.write.model_copy(update={"overwrite": True})


class ReviewSection(BaseModel):
    """The ``review:`` section: ``review push`` and ``review pull`` options (``review serve``'s
    keys are allowed and left to it)."""

    model_config = ConfigDict(extra="forbid")

    push: PushConfig
    pull: PullConfig


def section_models() -> dict[str, tuple[type[BaseModel], ...]]:
    """Each section of a config file and the typed configs that share its keys."""
    return {
        "ingest": (IngestConfig,),
        "generate": (GenerateConfig,),
        "annotate": (AnnotateConfig,),
        "reconcile": (ReconcileConfig,),
        "review": (PushConfig, PullConfig),
        "export": (ExportConfig, WriteConfig),
        "run": (RunConfig,),
        "eval": (EvalConfig,),
    }


def typed_sections(raw: dict[str, Any], flags: dict[str, dict[str, Any]],
                   file: str | None) -> dict[str, Any]:
    """Every section of ``raw`` (checked for unknown keys) as its typed config, ``flags``
    ({"annotate": {"limit": 3}}) winning over the file's values; errors name ``file`` (or the
    command line) and the field."""
    typed: dict[str, Any] = {}
    for name, models in section_models().items():
        data, given = raw.get(name) or {}, flags.get(name) or {}
        if name == "review":
            push, pull = (load_config(m, section_for(m, data), _pick(m, given), name, file)
                          for m in models)
            typed[name] = ReviewSection.model_construct(push=push, pull=pull)
        elif name == "export":
            select, write = (load_config(m, _pick(m, data), _pick(m, given), name, file)
                             for m in models)
            typed[name] = ExportSection.model_construct(select=select, write=write)
        else:
            typed[name] = load_config(models[0], data, given, name, file)
    schedules = raw.get("schedules")
    typed["schedules"] = None if schedules is None else {
        key: load_config(ScheduleSpec, dict(spec or {}), {}, f"schedules.{key}", file)
        for key, spec in schedules.items()}
    return typed


def extra_keys(section: str) -> set[str]:
    """Keys a section may hold beyond its models' fields (`review serve` options)."""
    return set(SERVE_KEYS) if section == "review" else set()


def unknown_keys(models: tuple[type[BaseModel], ...], data: dict[str, Any],
                 extra: set[str] = frozenset()) -> Iterator[tuple[str, str]]:
    """(dotted key, message) for each key of ``data`` that none of ``models`` takes, at any
    depth (nested models forbid unknown keys too); values are not judged here."""
    known = set(extra).union(*(m.model_fields for m in models))
    for key in data:
        if key not in known:
            yield str(key), f"unknown key; the section takes: {', '.join(sorted(known))}"
    for model in models:
        taken = {k: v for k, v in data.items() if k in model.model_fields}
        try:
            model.model_validate(taken)
        except ValidationError as exc:
            for error in exc.errors():
                if error.get("type") == "extra_forbidden":
                    yield ".".join(str(p) for p in error["loc"]), "unknown key"


def _settings_errors(settings: Any) -> Iterator[tuple[str, str]]:
    from annotators.registry import REGISTRY, validate_settings

    if not isinstance(settings, dict):
        return
    for name, values in settings.items():
        if name not in REGISTRY:
            yield f"settings.{name}", f"no annotator named {name!r}; choose from {', '.join(REGISTRY)}"
            continue
        try:
            validate_settings(name, values)
        except RecordError as exc:
            if exc.message.startswith("unknown key") or exc.field == f"settings.{name}":
                yield str(exc.field), exc.message


def _schedule_errors(section: Any) -> Iterator[tuple[str, str]]:
    known = ScheduleSpec.model_fields
    for name, spec in (section or {}).items():
        if not isinstance(spec, dict):
            continue
        for key in spec:
            if key not in known:
                yield f"{name}.{key}", f"unknown key; the section takes: {', '.join(sorted(known))}"


def section_errors(sections: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(section.key, message) for every unknown key in the sections of a config file."""
    models = section_models()
    for section, data in sections.items():
        if section == "schedules":
            errors = _schedule_errors(data)
        elif section == "annotate" and isinstance(data, dict):  # settings: per annotator, once
            keys = {k: v for k, v in data.items() if k != "settings"}
            errors = (*unknown_keys(models[section], keys), *_settings_errors(data.get("settings")))
        elif section in models and isinstance(data, dict):
            errors = unknown_keys(models[section], data, extra_keys(section))
        else:
            continue
        for key, message in errors:
            yield f"{section}.{key}", message


def check_sections(sections: dict[str, Any], where: str) -> None:
    """Fail on the first unknown key of any section, naming ``where`` (the file) and the key."""
    for key, message in section_errors(sections):
        raise RecordError(where, key, message)
