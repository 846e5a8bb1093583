"""The project config file: one YAML with a section per stage, shared engines and the lake.

```yaml
lake: data/lake
engines:
  default: {backend: transformers, model: embedded}
  judge: {backend: openai, model: Qwen/Qwen2.5-72B-Instruct, base_url: http://gpu:8000/v1}
generate: {samples: 4, max_tokens: 320}
annotate: {annotators: [mc-binary, judge], settings: {judge: {engine: judge}}}
```
It loads into typed section models, once (pipelines/config/sections.py), which the commands and
flows use as they are; engines are named once and referenced by role, so switching the whole
run to vLLM edits one place.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from engines.config import EngineConfig
from ingest.records import IngestConfig
from pipelines.config.files import load_config, read_yaml
from pipelines.config.run import RunConfig
from pipelines.config.schedules import ScheduleSpec
from pipelines.config.sections import ExportSection, ReviewSection, check_sections, typed_sections
from pipelines.tasks.annotate import AnnotateConfig
from pipelines.tasks.generate import GenerateConfig
from reconcile import ReconcileConfig
from report.evaluate import EvalConfig
from schemas import RecordError

DEFAULT_LAKE = "data/lake"


def default_lake() -> str:
    return os.environ.get("STEPFORGE_LAKE", DEFAULT_LAKE)


def _default_engines() -> dict[str, EngineConfig]:
    return {"default": EngineConfig()}


class ConfigFile(BaseModel):
    """A config file's top level as written: the shape of each section (a mapping), before the
    sections are typed."""

    model_config = ConfigDict(extra="forbid")

    lake: str = Field(default_factory=default_lake, description="lake root (folder or s3:// URI)")
    engines: dict[str, EngineConfig] = Field(default_factory=_default_engines,
                                             description="named engines (roles)")
    ingest: dict[str, Any] = Field(default_factory=dict, description="ingest section")
    generate: dict[str, Any] = Field(default_factory=dict, description="generate section")
    annotate: dict[str, Any] = Field(default_factory=dict, description="annotate section")
    reconcile: dict[str, Any] = Field(default_factory=dict, description="reconcile section")
    review: dict[str, Any] = Field(default_factory=dict, description="review section")
    export: dict[str, Any] = Field(default_factory=dict, description="export section")
    run: dict[str, Any] = Field(default_factory=dict, description="run section (stepforge run)")
    eval: dict[str, Any] = Field(default_factory=dict, description="eval section (stepforge eval)")
    schedules: dict[str, Any] | None = Field(
        None, description="schedules section (stepforge schedule); unset = the default schedules")


class ProjectConfig(BaseModel):
    """A loaded config file: every section typed (built by ``read_project``)."""

    model_config = ConfigDict(extra="forbid")

    lake: str = Field(default_factory=default_lake)
    engines: dict[str, EngineConfig] = Field(default_factory=_default_engines)
    ingest: IngestConfig
    generate: GenerateConfig
    annotate: AnnotateConfig
    reconcile: ReconcileConfig
    review: ReviewSection
    export: ExportSection
    run: RunConfig
    eval: EvalConfig
    schedules: dict[str, ScheduleSpec] | None = None

    _file: str | None = PrivateAttr(None)

    @property
    def file(self) -> str | None:
        """The config file (or preset) this was read from; None when none was given."""
        return self._file

    def engine(self, role: str) -> EngineConfig:
        """The engine config of a role; an unknown role is a clear error naming it."""
        if role not in self.engines:
            raise RecordError("config", f"engines.{role}",
                              f"no engine named {role!r}; defined: {', '.join(self.engines)}")
        return self.engines[role]


def read_project(config: str | None, where: str | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None,
                 flags: dict[str, dict[str, Any]] | None = None) -> ProjectConfig:
    """The config file (or preset) ``config`` as a ProjectConfig: every section checked for
    unknown keys, then typed. ``overrides`` ({"run": {"stages": [...]}}) update the file's
    sections first (a scheduled run's); ``flags`` are values from the command line, named as
    such in errors. Key errors name ``where`` (default: the file), the section and the key;
    value errors the file (or the command line), the section and the field."""
    data = read_yaml(config)
    for section, values in (overrides or {}).items():
        data[section] = {**(data.get(section) or {}), **values}
    where = where or config or "command line"
    raw = load_config(ConfigFile, data, {}, where)
    check_sections({name: getattr(raw, name) for name in ConfigFile.model_fields
                    if name not in ("lake", "engines")}, where)
    file = str(config) if config else None
    sections = typed_sections(raw.model_dump(exclude={"lake", "engines"}), flags or {}, file)
    project = ProjectConfig.model_construct(lake=raw.lake, engines=raw.engines, **sections)
    project._file = file
    return project
