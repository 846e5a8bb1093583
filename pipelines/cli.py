"""The ``stepforge`` command. Each subcommand lives in ``pipelines/commands/<name>.py`` and
exposes ``register(subparsers)``; this module discovers them, so adding a command edits no
shared file."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import pkgutil
import sys

from pydantic import ValidationError

import pipelines.commands as commands
from engines.preflight import NeedsUnmet
from pipelines.flags import legacy_switch_values
from pipelines.runtime.stopping import STOPPABLE, stop_handlers
from schemas import RecordError
from schemas.errors import validation_line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepforge", description="Step-level supervision for process reward models."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"stepforge {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"pipelines.commands.{info.name}").register(sub)
    return parser


def version() -> str:
    """The installed package's version, else the checkout's pyproject.toml's."""
    from importlib import metadata
    from pathlib import Path

    try:
        return metadata.version("stepforge")
    except metadata.PackageNotFoundError:
        import tomllib

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            return tomllib.loads(pyproject.read_text())["project"]["version"]
        except (OSError, KeyError, ValueError):
            return "unknown"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted, so a caller that swaps it
    (a test capturing output) never leaves the handler holding a closed stream."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    from engines import redact

    redact.install()  # before any logging: every record of the process is masked
    parser = build_parser()
    from_shell = argv is None  # the real command, not a test calling main with arguments
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        argv = legacy_switch_values(parser, argv)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    args = parser.parse_args(argv)
    handler = _StderrHandler()
    handler.addFilter(redact.SecretFilter())
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", handlers=[handler])
    # the real command owns its stop signals; review and schedule keep their own (they stop
    # servers they serve)
    owns = from_shell and args.command in STOPPABLE
    stops = stop_handlers(args.command) if owns else contextlib.nullcontext()
    try:
        with stops:
            return int(args.handler(args) or 0)
    except NeedsUnmet as exc:  # what this machine lacks for the config: one line each
        for line in exc.lines:
            print(redact.mask(f"stepforge {args.command}: error: {line}"), file=sys.stderr)
        return 2
    except (RecordError, FileNotFoundError, ValueError) as exc:
        text = validation_line(exc) if isinstance(exc, ValidationError) else str(exc)
        print(redact.mask(f"stepforge {args.command}: error: {text}"), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
