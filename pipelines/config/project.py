"""The project config file: one YAML with a section per stage, shared engines and the lake.

```yaml
lake: data/lake
engines:
  default: {backend: transformers, model: embedded}
  judge: {backend: openai, model: Qwen/Qwen2.5-72B-Instruct, base_url: http://gpu:8000/v1}
generate: {samples: 4, max_tokens: 320}
annotate: {annotators: [mc-binary, judge], settings: {judge: {engine: judge}}}
```
Each stage validates its own section with its typed config; engines are named once and
referenced by role, so switching the whole run to vLLM edits one place.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from engines.config import EngineConfig
from pipelines.config.flags import add_config_args, add_switch, flags_for, load_config, read_yaml
from schemas import RecordError

DEFAULT_LAKE = "data/lake"


def default_lake() -> str:
    return os.environ.get("STEPFORGE_LAKE", DEFAULT_LAKE)


class ProjectConfig(BaseModel):
    """Top level of a config file. Stage sections are validated by the stage that reads them."""

    model_config = ConfigDict(extra="forbid")

    lake: str = Field(default_factory=default_lake, description="lake root (folder or s3:// URI)")
    engines: dict[str, EngineConfig] = Field(
        default_factory=lambda: {"default": EngineConfig()}, description="named engines (roles)")
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


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--config, --lake and --engine-* flags (applied to the engine role the stage uses)."""
    parser.add_argument("--config", help="YAML config file (sections per stage) or a bundled "
                        "preset name (embedded)")
    parser.add_argument("--lake", help=f"lake root (default: $STEPFORGE_LAKE or {DEFAULT_LAKE})")
    add_config_args(parser, EngineConfig, prefix="engine")
    add_switch(parser, "--quiet", "quiet", default=False,
               help="no progress bars (they are also off when stderr is not a terminal or $CI is set)")


def read_project(config: str | None, where: str | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None) -> ProjectConfig:
    """The config file (or preset) ``config`` as a ProjectConfig, every section checked for
    unknown keys (pipelines/config/sections.py); ``overrides`` ({"run": {"stages": [...]}}) update
    sections first. Errors name ``where`` (default: the file), the section and the key."""
    from pipelines.config.sections import check_sections

    data = read_yaml(config)
    for section, values in (overrides or {}).items():
        data[section] = {**(data.get(section) or {}), **values}
    where = where or config or "command line"
    project = load_config(ProjectConfig, data, {}, where)
    project._file = str(config) if config else None
    check_sections({name: getattr(project, name) for name in ProjectConfig.model_fields
                    if name not in ("lake", "engines")}, where)
    return project


def load_project(args: argparse.Namespace, section: str | None = None,
                 role_flag: str | None = None) -> ProjectConfig:
    """The project config from --config, with --lake and --engine-* flags applied to the engine
    role of ``section`` (its ``engine`` key, or ``role_flag`` when given on the command line)."""
    project = read_project(getattr(args, "config", None))
    if getattr(args, "lake", None):
        project.lake = args.lake
    engine_flags = flags_for(args, EngineConfig, prefix="engine")
    if engine_flags:
        stage = getattr(project, section) if section else {}
        role = role_flag or stage.get("engine", "default")
        base = project.engines.get(role, EngineConfig()).model_dump()
        project.engines[role] = load_config(EngineConfig, base, engine_flags, f"engines.{role}")
    return project
