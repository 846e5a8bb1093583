"""Annotator names to the module that builds them (imported lazily, so a missing optional
backend of one annotator never breaks another)."""

from __future__ import annotations

import importlib
from typing import Any

from annotators.base import Annotator

# name -> "module:function"; each function is build(name, config: dict, engines: dict) -> Annotator
BUILDERS: dict[str, str] = {
    "mc-hard": "annotators.mc:build",
    "mc-soft": "annotators.mc:build",
    "mc-binary": "annotators.mc:build",
    "mc-progress": "annotators.mc:build",
    "judge": "annotators.judge:build",
    "spare": "annotators.spare:build",
    "spark": "annotators.spark:build",
}


def build_annotator(name: str, config: dict[str, Any], engines: dict[str, Any]) -> Annotator:
    """Build annotator ``name``; ``engines`` maps roles ("default", "judge", "prover"...) to Engines."""
    if name not in BUILDERS:
        raise ValueError(f"unknown annotator {name!r}; choose from {', '.join(BUILDERS)}")
    module_name, func = BUILDERS[name].split(":")
    return getattr(importlib.import_module(module_name), func)(name, config, engines)
