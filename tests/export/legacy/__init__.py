"""The export as it was before the set-based rewrite (issue #16), kept verbatim as the reference
that ``test_export_reference.py`` compares the new export with, byte for byte. Not used by the
pipeline; delete it once the rewrite has been trusted for a while."""

from __future__ import annotations

from tests.export.legacy.card import gather_facts, render_card
from tests.export.legacy.checks import ExportRefused, card_section, check_selection
from tests.export.legacy.select import ExportConfig, select
from tests.export.legacy.write import WriteConfig, write_export
from store.lake import Lake


def run_export(lake: Lake, config: ExportConfig, write: WriteConfig, allow_empty: bool = True):
    """The old ``export.run_export`` without the Hub push: (selection, written, checks)."""
    selection = select(lake, config)
    if not selection.examples and not allow_empty:
        raise ValueError("no labels selected")
    checks = check_selection(lake, selection)
    if checks.failures and not config.force:
        raise ExportRefused(checks.failures)
    checks.forced = bool(checks.failures)
    card = render_card(selection, config, gather_facts(lake, selection, config.strategy),
                       write.license, write.pretty_name) + card_section(checks)
    return selection, write_export(selection, config, write, card), checks
