"""Every section ``stepforge run`` uses, loaded and checked as typed configs before any work:
a typo, a bad value or an engine role missing from ``engines:`` fails here, before Prefect is
even imported (pipelines/config/needs.py then checks what the config needs from the machine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipelines.config.project import ProjectConfig, read_project
from pipelines.config.run import RunConfig
from pipelines.config.sections import ExportSection
from pipelines.tasks.annotate import AnnotateConfig
from pipelines.tasks.generate import GenerateConfig
from reconcile import ReconcileConfig


@dataclass(frozen=True)
class Configs:
    """What ``stepforge run`` loaded: the project config, its sections typed once."""

    project: ProjectConfig

    @property
    def run(self) -> RunConfig:
        return self.project.run

    @property
    def generate(self) -> GenerateConfig:
        return self.project.generate

    @property
    def annotate(self) -> AnnotateConfig:
        return self.project.annotate

    @property
    def reconcile(self) -> ReconcileConfig:
        return self.project.reconcile

    @property
    def export(self) -> ExportSection:
        return self.project.export


def load_configs(config: str | None, lake: str | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None) -> Configs:
    """The project config file (or preset) with ``lake`` and per-section ``overrides``
    ({"run": {"stages": [...]}}) applied; every engine role an annotator names must exist."""
    project = read_project(config, config or "defaults", overrides)
    if lake:
        project.lake = lake
    for name in project.annotate.annotators:
        project.annotate.engines_used(name, project.engines)
    return Configs(project)
