"""Every section ``stepforge run`` uses, loaded and checked as typed configs before any work:
a typo, a bad value or an engine role missing from ``engines:`` fails here, before Prefect is
even imported (pipelines/config/needs.py then checks what the config needs from the machine)."""

from __future__ import annotations

from typing import Any

from pipelines.config.project import ProjectConfig, read_project


def load_configs(config: str | None, lake: str | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None) -> ProjectConfig:
    """The project config file (or preset) with ``lake`` and per-section ``overrides``
    ({"run": {"stages": [...]}}) applied; every engine role an annotator names must exist."""
    project = read_project(config, config or "defaults", overrides)
    if lake:
        project.lake = lake
    for name in project.annotate.annotators:
        project.annotate.engines_used(name, project.engines)
    return project
