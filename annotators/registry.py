"""The annotators stepforge knows: each name with its typed config model and its builder.

A registration names both by ``"module:attribute"`` and imports them only when used, so a
missing optional backend of one annotator never breaks another. The config model is what the
``settings.<name>`` of a config file is validated against when the file (or ``--settings``) is
loaded, before any engine is built; its fields typed :data:`annotators.base.EngineRole` are the
engine roles the annotator needs.
"""

from __future__ import annotations

import importlib
import typing
from dataclasses import dataclass
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from annotators.base import ENGINE_ROLE, Annotator
from schemas import RecordError


@dataclass(frozen=True)
class Registration:
    """One annotator: its name, its config model and its builder, both as "module:attribute".

    The builder is ``build(name, config: dict, engines: Mapping[str, Engine]) -> Annotator``.
    """

    name: str
    config: str
    builder: str
    role: str | None = None  # the part it plays in a consensus rule: "mc" or "judge"
    rank: int = 100  # order among the annotators of its role (lower first)

    def config_model(self) -> type[BaseModel]:
        return _load(self.config)

    def build(self, config: dict[str, Any], engines: Mapping[str, Any]) -> Annotator:
        return _load(self.builder)(self.name, config, engines)


REGISTRY: dict[str, Registration] = {}


def register(name: str, config: str, builder: str, role: str | None = None,
             rank: int = 100) -> Registration:
    """Add (or replace) annotator ``name``; ``config`` and ``builder`` are "module:attribute";
    ``role`` ("mc", "judge") is the part it may play in the consensus rule, ``rank`` its order
    there (the first of a role that locates a solution's first error plays it)."""
    REGISTRY[name] = Registration(name, config, builder, role, rank)
    return REGISTRY[name]


def role_members(role: str) -> list[str]:
    """The annotators that may play ``role`` in the consensus rule, in rank order."""
    ranked = [(r.rank, i, r.name) for i, r in enumerate(REGISTRY.values()) if r.role == role]
    return [name for _, _, name in sorted(ranked)]


_MC_RANK = {"mc-binary": 1, "mc-hard": 3, "mc-soft": 4}  # mc-progress locates no first error
for _mode in ("mc-hard", "mc-soft", "mc-binary", "mc-progress"):
    register(_mode, "annotators.mc.config:MCConfig", "annotators.mc:build",
             "mc" if _mode in _MC_RANK else None, _MC_RANK.get(_mode, 100))
register("mc-verify", "annotators.mc.verify:VerifyConfig", "annotators.mc:build", "mc", 2)
register("judge", "annotators.judge:JudgeConfig", "annotators.judge:build", "judge", 1)
register("spare", "annotators.spare:SpareConfig", "annotators.spare:build", "judge", 3)
register("spark", "annotators.spark:SparkConfig", "annotators.spark:build", "judge", 2)


def _load(target: str) -> Any:
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)


def registration(name: str) -> Registration:
    """The registration of ``name``; an unknown name is an error listing the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown annotator {name!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]


def validate_settings(name: str, settings: dict[str, Any] | None,
                      where: str = "annotate") -> BaseModel:
    """``settings`` validated against annotator ``name``'s config model; an error names
    ``where`` and the field ``settings.<name>.<key>`` (an unknown key lists the known ones)."""
    if name not in REGISTRY:
        raise RecordError(where, f"settings.{name}",
                          f"no annotator named {name!r}; choose from {', '.join(REGISTRY)}")
    model = REGISTRY[name].config_model()
    if settings is not None and not isinstance(settings, dict):
        raise RecordError(where, f"settings.{name}", "must be a mapping of settings")
    try:
        return model.model_validate(settings or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first.get("loc", ()))
        message = first.get("msg", str(exc))
        if first.get("type") == "extra_forbidden":
            message = f"unknown key; {name} takes: {', '.join(model.model_fields)}"
        raise RecordError(where, f"settings.{name}" + (f".{key}" if key else ""),
                          message) from None


def _is_role(annotation: Any, metadata: list[Any]) -> bool:
    if ENGINE_ROLE in metadata:
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        return ENGINE_ROLE in typing.get_args(annotation)[1:]
    return any(_is_role(arg, []) for arg in typing.get_args(annotation))


def engine_roles(config: BaseModel) -> set[str]:
    """The engine roles a validated annotator config names (its ``EngineRole`` fields that are set)."""
    roles = set()
    for field_name, field in type(config).model_fields.items():
        value = getattr(config, field_name)
        if isinstance(value, str) and _is_role(field.annotation, field.metadata):
            roles.add(value)
    return roles


def build_annotator(name: str, config: dict[str, Any], engines: Mapping[str, Any]) -> Annotator:
    """Build annotator ``name``; ``engines`` maps roles ("default", "judge", "prover"...) to Engines."""
    return registration(name).build(config, engines)
