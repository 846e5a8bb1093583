"""What a consensus row's codes mean: its status, why a label is single-source, the MC evidence
behind it, and how many sources an agreed label needs.

The SQL rules (``reconcile.rules_sql``) write the codes; the rows (``reconcile.rows``) and the
summaries (``reconcile.summary``) turn them into these names. The numpy oracle the SQL is tested
against (``tests.oracles.consensus``) uses the same codes.
"""

from __future__ import annotations

AGREED, DISPUTED, HUMAN, SINGLE = 0, 1, 2, 3  # a row's status code
STATUS_NAMES = ("agreed", "disputed", "human", "single-source")
# ``details.single_source`` of a single-source row, by rule kind (names JSON writes verbatim)
SINGLE_SOURCE_REASONS = ("one-labelled-vote", "mc-and-judge-one-annotator")
MIN_SOURCES = 2  # labeled votes of distinct annotators an agreed label needs
UNKNOWN = -2  # first error that the votes cannot locate (a gap before the first 0)
PROVENANCE = ("none", "inferred", "measured")  # details.mc_provenance codes 0, 1, 2
