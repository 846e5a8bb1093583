"""Every command's --help follows one convention: readable metavars (no ``__``), no
"as described", each default shown once, an example block, and yes/no options that are bare
switches (the old ``--flag true`` spelling still works, with a note)."""

from __future__ import annotations

import argparse
import re

import pytest

from pipelines.cli import build_parser
from pipelines.flags import Switch, legacy_switch_values


def commands() -> dict[str, argparse.ArgumentParser]:
    """'ingest' -> its parser, 'review push' -> ..., every leaf command."""
    out: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            out[path] = parser
        for sub in subs:
            for name, child in sub.choices.items():
                walk(child, f"{path} {name}".strip())

    walk(build_parser(), "")
    return out


COMMANDS = commands()


def test_every_command_is_checked() -> None:
    assert {"ingest", "generate", "annotate", "reconcile", "export", "report", "sql", "run",
            "schedule", "eval", "review push", "review pull", "review serve"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_follows_the_convention(name: str) -> None:
    parser = COMMANDS[name]
    text = parser.format_help()
    assert "__" not in text, f"{name}: a metavar with __"
    assert "as described" not in text
    assert re.search(r"Examples?::?\n\s*\n\s+stepforge " + name.split()[0], text), \
        f"{name}: no example block"
    for action in parser._actions:
        if action.help in (None, argparse.SUPPRESS):
            continue
        assert action.help.lower().count("(default:") <= 1, f"{name} {action.option_strings}"
        assert "(default: None)" not in action.help
        if action.nargs == 0 or isinstance(action, Switch):
            continue
        assert action.type is not bool and getattr(action.type, "__name__", "") != "_parse_bool", \
            f"{name} {action.option_strings}: a yes/no option that takes a value"
        assert action.metavar is None or action.metavar.upper() == action.metavar


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_switch_accepts_the_bare_flag(name: str) -> None:
    parser = COMMANDS[name]
    for action in parser._actions:
        if isinstance(action, Switch):
            on, off = action.option_strings
            assert getattr(parser.parse_args(_required(parser) + [on]), action.dest) is True
            assert getattr(parser.parse_args(_required(parser) + [off]), action.dest) is False


def _required(parser: argparse.ArgumentParser) -> list[str]:
    return ["x" for a in parser._actions if not a.option_strings and a.nargs is None]


def test_old_value_spelling_still_works_with_a_note(capsys) -> None:
    parser = build_parser()
    argv = legacy_switch_values(parser, ["ingest", "--dry-run", "true", "f.jsonl"])
    assert argv == ["ingest", "--dry-run", "f.jsonl"]
    assert "`--dry-run true` is deprecated; write `--dry-run`" in capsys.readouterr().err
    assert legacy_switch_values(parser, ["export", "--private=false"]) == ["export", "--no-private"]
    args = parser.parse_args(legacy_switch_values(parser, ["reconcile", "--dry-run", "yes"]))
    assert args.dry_run is True
    # a positional that merely looks like a word is left alone after a switch
    assert legacy_switch_values(parser, ["ingest", "--dry-run", "data.jsonl"]) == \
        ["ingest", "--dry-run", "data.jsonl"]
    # a plain on-switch's old `false` works too, with a note, as every other switch's does
    capsys.readouterr()
    assert legacy_switch_values(parser, ["schedule", "--dry-run", "false"]) == ["schedule"]
    assert "`--dry-run false` is deprecated; leave --dry-run out" in capsys.readouterr().err
    assert legacy_switch_values(parser, ["schedule", "--dry-run", "true"]) == \
        ["schedule", "--dry-run"]
    assert "`--dry-run true` is deprecated; write `--dry-run`" in capsys.readouterr().err


def test_eval_json_is_a_deprecated_alias(capsys) -> None:
    args = build_parser().parse_args(["eval", "--gold", "g", "--json", "out.json"])
    assert args.json_path == "out.json"
    assert "--json is deprecated; write --json-path" in capsys.readouterr().err
    assert "--json " not in COMMANDS["eval"].format_help().replace("--json-path", "")


def test_generate_step_split_is_not_confused_with_a_dataset_split(capsys) -> None:
    parser = build_parser()
    args = parser.parse_args(["generate", "--step-split", '{"method": "lines"}'])
    assert args.split == {"method": "lines"}
    assert parser.parse_args(["generate", "--split", '{"method": "lines"}']).split == {"method": "lines"}
    assert "--split is deprecated; write --step-split" in capsys.readouterr().err
    assert "--split " not in COMMANDS["generate"].format_help()
    assert "--split SPLIT" in COMMANDS["ingest"].format_help()


def test_docs_use_only_flags_the_commands_have() -> None:
    """Every ``stepforge CMD ... --flag`` written in the README and docs/ is a flag of CMD."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    wrong = []
    for page in pages:
        for line in page.read_text().splitlines():
            for match in re.finditer(r"stepforge ((?:review )?[a-z]+)([^`|#&;]*)", line):
                parser = COMMANDS.get(match.group(1).strip())
                if parser is None:
                    continue
                for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", match.group(2)):
                    if flag not in parser._option_string_actions:
                        wrong.append(f"{page.name}: stepforge {match.group(1)} {flag}")
    assert not wrong, "\n".join(wrong)
