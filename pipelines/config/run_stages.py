"""Every section ``stepforge run`` uses, loaded and checked as typed configs before any work:
a typo, a bad value or an engine role missing from ``engines:`` fails here, before Prefect is
even imported (pipelines/config/needs.py then checks what the config needs from the machine)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipelines.tasks.annotate import AnnotateConfig
from pipelines.config.flags import load_config
from pipelines.tasks.generate import GenerateConfig
from pipelines.config.project import ProjectConfig, read_project
from reconcile import ReconcileConfig
from pipelines.config.run import RunConfig
from pipelines.config.sections import export_configs


@dataclass
class Configs:
    """Every stage's typed config, validated up front so a typo fails before any work."""

    project: ProjectConfig
    run: RunConfig
    generate: GenerateConfig
    annotate: AnnotateConfig
    reconcile: ReconcileConfig
    export: dict[str, Any] = field(default_factory=dict)


def load_configs(config: str | None, lake: str | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None) -> Configs:
    """The project config file (or preset) with ``lake`` and per-section ``overrides``
    ({"run": {"stages": [...]}}) applied."""
    project = read_project(config, config or "defaults", overrides)
    if lake:
        project.lake = lake
    run = load_config(RunConfig, project.run, {}, "run", file=project.file)
    configs = Configs(
        project=project, run=run,
        generate=load_config(GenerateConfig, project.generate, {}, "generate", project.file),
        annotate=load_config(AnnotateConfig, project.annotate, {}, "annotate", project.file),
        reconcile=load_config(ReconcileConfig, project.reconcile, {}, "reconcile", project.file),
        export=dict(project.export),
    )
    for name in configs.annotate.annotators:  # every engine role an annotator names exists
        configs.annotate.engines_used(name, project.engines)
    if "export" in run.stages:
        export_configs(project.export, {}, {}, {"overwrite": True}, project.file)
    if "review" in run.stages:
        from review.config import PushConfig, section_for

        load_config(PushConfig, section_for(PushConfig, project.review), {}, "review", project.file)
    return configs
