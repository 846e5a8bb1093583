"""Config files: a YAML file (or a bundled preset) read as a mapping, and a typed config validated
from a section of it merged with the values given on the command line (they win).

No argparse here: flows (a scheduled run loads its own config) import this, the CLI's flag
definitions live in ``pipelines/flags.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from schemas import RecordError

M = TypeVar("M", bound=BaseModel)

PRESETS = Path(__file__).resolve().parent.parent / "presets"


def resolve_config(path: str | Path) -> Path:
    """A config file path, or the name of a bundled preset (``embedded`` ->
    ``pipelines/presets/embedded.yaml``) when no such file exists."""
    path = Path(path)
    if path.exists():
        return path
    preset = PRESETS / f"{path.name}.yaml"
    if path.suffix == "" and len(path.parts) == 1 and preset.exists():
        return preset
    names = ", ".join(sorted(p.stem for p in PRESETS.glob("*.yaml")))
    raise FileNotFoundError(f"config file {path} does not exist (bundled presets: {names})")


def read_yaml(path: str | Path | None) -> dict[str, Any]:
    """A YAML (or JSON) config file, or a bundled preset, as a dict; a missing or non-mapping
    file is a clear error."""
    if path is None:
        return {}
    path = resolve_config(path)
    if path.is_dir():
        raise RecordError(str(path), None, "is a folder; --config takes a YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise RecordError(str(path), None, f"not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecordError(where, None, f"invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise RecordError(str(path), None, "a config file must hold a mapping at the top level")
    return data


def load_config(model: type[M], data: Mapping[str, Any] | BaseModel, overrides: dict[str, Any],
                where: str, file: str | None = None) -> M:
    """Validate ``data`` (a file's section, or a config validated before: the fields it was
    given) updated with ``overrides``; errors name the config and the field, and the ``file``
    the section came from (or the command line when a flag gave the value)."""
    if isinstance(data, BaseModel):
        if not overrides and isinstance(data, model):
            return data
        data = data.model_dump(exclude_unset=True)
    merged = {**data, **overrides}
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc", ())
        if file:
            where = f"{'command line' if loc and loc[0] in overrides else file}: {where}"
        inner = (first.get("ctx") or {}).get("error")
        if isinstance(inner, RecordError):  # a validator that already named the field
            raise RecordError(where, inner.field, inner.message) from None
        field = ".".join(str(p) for p in loc) or None
        raise RecordError(where, field, first.get("msg", str(exc))) from None
