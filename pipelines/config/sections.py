"""Every section of a config file checked when the file is loaded.

An unknown key anywhere (a stage section, an annotator's settings, a schedule, a run input, the
export or review options) fails before any work, naming the file, the section and the key. The
values are checked by each stage when it builds its typed config together with the command
line's flags (a flag may replace a value the file got wrong), which is still before any engine
is built; ``stepforge run`` validates every section whole up front.
"""

from __future__ import annotations

from typing import Any, Iterator

from pydantic import BaseModel, ValidationError

from schemas import RecordError


def section_models() -> dict[str, tuple[type[BaseModel], ...]]:
    """Each section of a config file and the typed configs that share its keys."""
    from export.select import ExportConfig
    from export.write import WriteConfig
    from pipelines.tasks.annotate import AnnotateConfig
    from report.evaluate import EvalConfig
    from pipelines.tasks.generate import GenerateConfig
    from ingest.records import IngestConfig
    from reconcile import ReconcileConfig
    from pipelines.config.run import RunConfig
    from review.config import PullConfig, PushConfig

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


def extra_keys(section: str) -> set[str]:
    """Keys a section may hold beyond its models' fields (`review serve` options)."""
    if section != "review":
        return set()
    from review.config import SERVE_KEYS

    return set(SERVE_KEYS)


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
    from pipelines.orchestration.schedules import ScheduleSpec

    known = ScheduleSpec.model_fields  # keys only: its cron check imports Prefect (seconds),
    for name, spec in (section or {}).items():  # left to `stepforge schedule`, which needs it
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
        elif section in models and isinstance(data, dict):
            errors = unknown_keys(models[section], data, extra_keys(section))
            if section == "annotate":
                errors = (*errors, *_settings_errors(data.get("settings")))
        else:
            continue
        for key, message in errors:
            yield f"{section}.{key}", message


def check_sections(sections: dict[str, Any], where: str) -> None:
    """Fail on the first unknown key of any section, naming ``where`` (the file) and the key."""
    for key, message in section_errors(sections):
        raise RecordError(where, key, message)


def export_configs(section: dict[str, Any], export_flags: dict[str, Any],
                   write_flags: dict[str, Any], write_defaults: dict[str, Any] | None = None,
                   file: str | None = None) -> tuple[Any, Any]:
    """The (ExportConfig, WriteConfig) of the config's ``export:`` section, flags winning; a key
    neither takes is an error naming it."""
    from export.select import ExportConfig
    from export.write import WriteConfig
    from pipelines.config.flags import load_config

    for key, message in unknown_keys((ExportConfig, WriteConfig), section):
        raise RecordError(file or "config", f"export.{key}", message)
    pick = lambda model: {k: v for k, v in section.items() if k in model.model_fields}  # noqa: E731
    config = load_config(ExportConfig, pick(ExportConfig), export_flags, "export", file)
    write = load_config(WriteConfig, {**(write_defaults or {}), **pick(WriteConfig)}, write_flags,
                        "export", file)
    return config, write
