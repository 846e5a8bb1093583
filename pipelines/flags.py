"""CLI flags generated from the typed configs, with one definition per option (the argparse side
of config loading; only the CLI and its commands import it, never a flow).

``add_config_args`` turns the fields of a pydantic model into ``--flag`` options (their help is
the field's description), ``flags_for`` reads back the ones given, and ``load_project`` loads
the config file with them (``pipelines.config.files.load_config``: flags win), so the CLI is
generated from the config and never copies it.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from typing import Any

import yaml
from pydantic import BaseModel

from engines.config import EngineConfig
from pipelines.config.files import load_config
from pipelines.config.project import DEFAULT_LAKE, ProjectConfig, read_project
from store.lock import TIMEOUT_ENV, seconds


def _scalar_type(annotation: Any) -> Any:
    """The argparse type of a field: str/int/float/bool, JSON for lists and dicts."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _scalar_type(args[0]) if len(args) == 1 else str
    if origin is typing.Literal:
        return type(typing.get_args(annotation)[0])
    if origin is list and _is_text(typing.get_args(annotation)):
        return _comma_list
    if origin in (list, dict, tuple) or annotation in (list, dict):
        return flow_yaml
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return flow_yaml
    return annotation if annotation in (int, float, str, bool) else str


def _is_text(args: tuple) -> bool:
    """Whether a list's item type is str or a Literal of strings."""
    if args == (str,):
        return True
    return len(args) == 1 and typing.get_origin(args[0]) is typing.Literal and \
        all(isinstance(a, str) for a in typing.get_args(args[0]))


def _comma_list(text: str) -> list[str]:
    """``a,b`` -> ["a", "b"] (also accepts a JSON list)."""
    text = text.strip()
    if text.startswith("["):
        return json.loads(text)
    return [item.strip() for item in text.split(",") if item.strip()]


def flow_yaml(text: str) -> Any:
    """A structured flag value in YAML flow syntax (``{mc-hard: {k: 4}}``) or JSON (a subset)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise argparse.ArgumentTypeError(f"not YAML or JSON ({problem}): {text!r}") from None


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _shown_default(field: Any) -> str | None:
    """The field's default for --help (a default_factory's value, lists comma-joined, switches
    on/off), or None when there is nothing worth showing (unset, a nested config)."""
    value = field.get_default(call_default_factory=True)
    if value is None:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value) or "none"
    if isinstance(value, BaseModel) or (isinstance(value, list) and value
                                        and isinstance(value[0], BaseModel)):
        return None
    if isinstance(value, dict):
        return json.dumps(value) if value else None
    return str(value)


def _metavar(name: str, kind: Any) -> str:
    """A readable placeholder: N for counts, NUM for numbers, the field's own name otherwise."""
    if kind is int:
        return "N"
    if kind is float:
        return "NUM"
    if kind is _comma_list:
        return f"{name.upper()}[,...]"
    if kind is json.loads:
        return "JSON"
    return name.upper()


def _schema_extra(field: Any) -> dict[str, Any]:
    """What a field adds to its JSON schema (``json_schema_extra``, a mapping or a callable
    filling one): a field whose values are known only at run time (the registered export
    formats) gives its ``enum`` and ``description`` there."""
    extra = field.json_schema_extra
    if callable(extra):
        schema: dict[str, Any] = {}
        extra(schema)
        return schema
    return dict(extra or {})


def _choices(field: Any) -> list[Any] | None:
    """A flag's choices: a ``Literal``'s values, else the ``enum`` its schema extra gives."""
    if typing.get_origin(field.annotation) is typing.Literal:
        return list(typing.get_args(field.annotation))
    enum = _schema_extra(field).get("enum")
    return list(enum) if enum else None


def _help(field: Any) -> str:
    """The field's description (its schema extra's, when it gives one) with its default
    appended once (unless it already names one)."""
    text = (_schema_extra(field).get("description") or field.description or "").strip()
    shown = _shown_default(field)
    if shown is None or "default" in text.lower():
        return text or " "
    return f"{text} (default: {shown})"


BOOL_WORDS = ("1", "true", "yes", "on", "0", "false", "no", "off")


class Switch(argparse.Action):
    """A yes/no option: ``--name`` sets it, ``--no-name`` clears it (no value follows)."""

    def __init__(self, option_strings: list[str], dest: str, default: Any = argparse.SUPPRESS,
                 help: str | None = None, **_: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, not (option_string or "").startswith("--no-"))

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


def add_switch(parser: argparse.ArgumentParser, flag: str, dest: str, help: str,
               default: Any = argparse.SUPPRESS) -> None:
    """``--flag`` / ``--no-flag`` setting ``dest`` to True / False."""
    parser.add_argument(flag, "--no-" + flag[2:], dest=dest, action=Switch, default=default,
                        help=help)


class _Alias(argparse.Action):
    """An old spelling of an option: works as before, with a note naming the new one."""

    def __init__(self, option_strings: list[str], dest: str, new: str = "", **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"note: {option_string} is deprecated; write {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_deprecated_alias(parser: argparse.ArgumentParser, old: str, new: str, dest: str,
                         kind: Any = None) -> None:
    """Keep ``old`` working as ``new`` (hidden from --help, a note when used)."""
    parser.add_argument(old, dest=dest, action=_Alias, new=new, type=kind,
                        default=argparse.SUPPRESS, help=argparse.SUPPRESS)


# Fields whose plain flag would mean something else in another command (``ingest --split`` is a
# dataset split): ``Model.field`` -> its flag name; the plain spelling stays as a deprecated alias.
FLAG_NAMES = {"GenerateConfig.split": "step-split"}


def add_config_args(parser: argparse.ArgumentParser, model: type[BaseModel], prefix: str = "") -> None:
    """Add one ``--prefix-field`` option per field of ``model`` (default: not given); a bool
    field becomes a switch pair ``--field`` / ``--no-field``."""
    for name, field in model.model_fields.items():
        kind = _scalar_type(field.annotation)
        plain = name.replace("_", "-")
        renamed = FLAG_NAMES.get(f"{model.__name__}.{name}")
        flag = "--" + (prefix + "-" if prefix else "") + (renamed or plain)
        dest = f"{prefix}__{name}" if prefix else name
        if renamed:
            add_deprecated_alias(parser, "--" + (prefix + "-" if prefix else "") + plain, flag, dest,
                                 kind)
        if kind is bool:
            add_switch(parser, flag, dest, _help(field))
            continue
        choices = _choices(field)
        parser.add_argument(flag, dest=dest, type=kind, choices=choices,
                            default=argparse.SUPPRESS, metavar=None if choices else _metavar(name, kind),
                            help=_help(field))


def _switch_flags(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions if isinstance(a, (Switch, argparse._StoreTrueAction))
            for o in a.option_strings if o.startswith("--")}


def legacy_switch_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Rewrite the old ``--flag true|false`` (or ``--flag=false``) spelling of a switch of the
    command in ``argv`` to ``--flag`` / ``--no-flag``, with a deprecation note on stderr."""
    switches = _switch_flags(parser)
    current = parser
    for token in argv:  # follow the subcommands named in argv
        sub = next((a for a in current._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is not None and token in sub.choices:
            current = sub.choices[token]
            switches |= _switch_flags(current)
    out: list[str] = []
    i = 0
    while i < len(argv):
        flag, eq, value = argv[i].partition("=")
        if flag in switches and not eq and i + 1 < len(argv) and argv[i + 1].lower() in BOOL_WORDS:
            i, value = i + 1, argv[i + 1]
        elif not (flag in switches and eq):
            out.append(argv[i])
            i += 1
            continue
        new = flag if _parse_bool(value) else "--no-" + flag[2:]
        if new not in switches:  # a plain on-switch (schedule --dry-run): off is leaving it out
            print(f"note: `{flag} {value}` is deprecated; leave {flag} out", file=sys.stderr)
        else:
            print(f"note: `{flag} {value}` is deprecated; write `{new}`", file=sys.stderr)
            out.append(new)
        i += 1
    return out


def flags_for(args: argparse.Namespace, model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """The values of ``model``'s fields that were given on the command line."""
    given = {}
    for name in model.model_fields:
        dest = f"{prefix}__{name}" if prefix else name
        if hasattr(args, dest):
            given[name] = getattr(args, dest)
    return given


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--config, --lake and --engine-* flags (applied to the engine role the stage uses)."""
    parser.add_argument("--config", help="YAML config file (sections per stage) or a bundled "
                        "preset name (embedded)")
    parser.add_argument("--lake", help=f"lake root (default: $STEPFORGE_LAKE or {DEFAULT_LAKE})")
    add_config_args(parser, EngineConfig, prefix="engine")
    add_switch(parser, "--quiet", "quiet", default=False,
               help="no progress bars (they are also off when stderr is not a terminal or $CI is set)")


def load_project(args: argparse.Namespace, section: str | None = None,
                 flags: dict[str, Any] | None = None) -> ProjectConfig:
    """The project config from --config, every section typed once, ``flags`` (the values given
    on the command line for ``section``) overriding the file's, --lake applied, and the
    --engine-* flags applied to the engine role of ``section`` (its ``engine``)."""
    project = read_project(getattr(args, "config", None),
                           flags={section: flags} if section and flags else None)
    if getattr(args, "lake", None):
        project.lake = args.lake
    engine_flags = flags_for(args, EngineConfig, prefix="engine")
    if engine_flags:
        role = getattr(getattr(project, section), "engine", "default") if section else "default"
        base = project.engines.get(role, EngineConfig()).model_dump()
        project.engines[role] = load_config(EngineConfig, base, engine_flags, f"engines.{role}")
    return project


def _timeout_arg(text: str) -> float:
    try:
        return seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_lock_timeout_arg(parser: argparse.ArgumentParser) -> None:
    """The ``--lock-timeout`` flag of the commands that take the lake lock (store/lock.py)."""
    parser.add_argument("--lock-timeout", type=_timeout_arg, default=None, metavar="SECONDS",
                        help="wait this long for another annotate/reconcile/run on the same "
                        f"lake to finish (default: ${TIMEOUT_ENV} or 0: exit at once with a "
                        "message naming it)")
