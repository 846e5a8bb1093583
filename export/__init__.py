"""Training-set export: consensus labels from the lake -> TRL / Math-Shepherd / ProcessBench /
JSON-lines shards with a dataset card, optionally pushed to the Hugging Face Hub.

``select`` decides which solutions and labels go in and the split (SQL in a scratch DuckDB,
rules in ``rules``), a format (one class per format under ``formats/``, registered by name in
``config``) builds the rows, ``checks`` refuses sets without information, ``card`` writes the
README, ``write`` the shards and the push. ``run_export`` chains them.
"""

from __future__ import annotations

from dataclasses import dataclass

from export.card import gather_facts, render_card
from export.checks import CheckResult, ExportRefused, card_section, check_selection
from export.config import format_of, register_format
from export.formats import BUILTIN  # importing it registers the built-in formats
from export.select import ExportConfig, Selection, select
from export.write import WriteConfig, Written, push_to_hub, write_export
from store.lake import Lake

__all__ = ["BUILTIN", "ExportConfig", "ExportEmpty", "ExportRefused", "ExportResult", "WriteConfig",
           "describe", "register_format", "run_export", "select"]


@dataclass
class ExportResult:
    selection: Selection
    written: Written
    pushed: str | None = None
    checks: CheckResult | None = None


class ExportEmpty(ValueError):
    """No solution has labels to export under the config; nothing was written."""

    def __init__(self, selection: Selection):
        super().__init__("no labels selected")
        self.selection = selection


def run_export(lake: Lake, config: ExportConfig, write: WriteConfig,
               allow_empty: bool = True, marker: dict[str, str] | None = None) -> ExportResult:
    """Select, check, write the folder and (when ``write.push_to_hub``) upload it (the returned
    selection is closed: its counts remain, its rows are gone). An empty
    selection raises ``ExportEmpty`` unless ``allow_empty``; labels that fail the information
    checks raise ``ExportRefused`` unless ``config.force``. ``marker``: a run's ownership mark
    (``export.owner``)."""
    if write.push_to_hub:  # fail on a missing token before the work, not after
        from export.write import hub_token
        hub_token()
    with select(lake, config) as selection:  # the scratch is dropped on leaving
        if not selection.total and not allow_empty:
            raise ExportEmpty(selection)
        checks = check_selection(lake, selection)
        if checks.failures and not config.force:
            raise ExportRefused(checks.failures)
        checks.forced = bool(checks.failures)
        card = render_card(selection, config, gather_facts(lake, selection, config.strategy),
                           write.license, write.pretty_name) + card_section(checks)
        written = write_export(selection, config, write, card, marker)
    pushed = None
    if write.push_to_hub:
        pushed = push_to_hub(written.out, write.push_to_hub, write.private,
                             endpoint=write.hub_endpoint,
                             commit_message=f"stepforge export ({config.format}, {config.strategy})")
    return ExportResult(selection, written, pushed, checks)


def describe(result: ExportResult, config: ExportConfig, lake: Lake | None = None) -> str:
    """Rows per split, what was left out, where the files are (and the Hub commit); for an
    empty set with ``lake`` given, why it is empty."""
    sel = result.selection
    splits = ", ".join(f"{s} {n}" for s, n in result.written.rows.items()) or "no rows"
    dropped = ", ".join(f"{n} {why}" for why, n in sorted(sel.dropped.items())) or "none"
    lines = [f"export {config.format} ({config.strategy}): {splits} -> {result.written.out}",
             f"  solutions with labels: {sel.considered}; left out: {dropped}",
             f"  files: {', '.join(result.written.files)}",
             *format_of(config).describe_lines(sel)]
    if result.checks is not None:
        lines.append(f"  information checks: {result.checks.line()}")
    if result.pushed:
        lines.append(f"  pushed: {result.pushed}")
    if lake is not None and not result.written.rows:
        from export.empty import why_empty

        lines += ["  empty: " + line.strip() for line in why_empty(lake, config, sel)]
    return "\n".join(lines)
