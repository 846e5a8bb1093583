"""The annotators stepforge knows: each name with its class, its typed config model, and the
part it may play in the consensus rule.

An annotator class says all of it itself (annotators/base.py ``Annotator``): its ``names``
(``Listing``: name, role, rank, and a config model of its own where one name needs another),
its ``config_model`` and ``build(name, config, engines)``. ``register(cls)`` lists every name of
a class; the built-in classes are registered below, in the order ``--annotators`` help and
error messages list them. The config model is what the ``settings.<name>`` of a config file is
validated against when the file (or ``--settings``) is loaded, before any engine is built; its
fields typed :data:`annotators.base.EngineRole` are the engine roles the annotator needs.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from annotators.base import ENGINE_ROLE, Annotator
from annotators.judge import JudgeAnnotator
from annotators.mc import MCAnnotator
from annotators.spare import SpareAnnotator
from annotators.spark import SparkAnnotator
from schemas import RecordError

__all__ = ["REGISTRY", "Registration", "build_annotator", "engine_roles", "register",
           "registration", "role_members", "validate_settings"]


@dataclass(frozen=True)
class Registration:
    """One annotator name: its class, its config model, its consensus role and rank."""

    name: str
    annotator: type
    config: type[BaseModel]
    role: str | None = None  # the part it plays in a consensus rule: "mc" or "judge"
    rank: int = 100  # order among the annotators of its role (lower first)

    def config_model(self) -> type[BaseModel]:
        return self.config

    def validated(self, config: BaseModel | Mapping[str, Any] | None) -> BaseModel:
        """``config`` as this name's config model: a model of that class is taken as it is,
        a mapping is validated (pydantic's ValidationError when it does not fit)."""
        if isinstance(config, BaseModel):
            if type(config) is not self.config:
                raise TypeError(f"{self.name}: config is a {type(config).__name__}, "
                                f"expected {self.config.__name__}")
            return config
        return self.config.model_validate(dict(config or {}))

    def build(self, config: BaseModel | Mapping[str, Any] | None,
              engines: Mapping[str, Any]) -> Annotator:
        return self.annotator.build(self.name, self.validated(config), engines)


REGISTRY: dict[str, Registration] = {}

A = TypeVar("A", bound=type)


def register(annotator: A) -> A:
    """Add (or replace) every name ``annotator`` (a class) lists in its ``names``; usable as a
    class decorator. A name's role ("mc", "judge") is the part it may play in the consensus
    rule, its rank its order there (the first of a role that locates a solution's first error
    plays it)."""
    for listing in annotator.names:
        REGISTRY[listing.name] = Registration(
            listing.name, annotator, listing.config or annotator.config_model, listing.role,
            listing.rank)
    return annotator


for _builtin in (MCAnnotator, JudgeAnnotator, SpareAnnotator, SparkAnnotator):
    register(_builtin)


def role_members(role: str) -> list[str]:
    """The annotators that may play ``role`` in the consensus rule, in rank order."""
    ranked = [(r.rank, i, r.name) for i, r in enumerate(REGISTRY.values()) if r.role == role]
    return [name for _, _, name in sorted(ranked)]


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


def build_annotator(name: str, config: BaseModel | Mapping[str, Any] | None,
                    engines: Mapping[str, Any]) -> Annotator:
    """Build annotator ``name`` from its settings (a mapping, or the model ``validate_settings``
    returned); ``engines`` maps roles ("default", "judge", "prover"...) to Engines."""
    return registration(name).build(config, engines)
