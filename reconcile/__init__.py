"""The reconcile step: step votes and human reviews from the lake -> Consensus rows per strategy.

``reconcile`` runs every configured strategy as set-based DuckDB queries over the lake, in
bounded memory; ``describe`` prints what it did. Where things are:

- ``config``: ``ReconcileConfig`` and the rules' typed settings (``ConsensusRule``, ``VoteRule``,
  ``DawidSkeneRule``, ``Variant``); ``inputs``: the votes and reviews a config reads and the salt
  of each row's inputs hash; ``statuses``: what a row's codes mean.
- ``run``: the entry point (the lake lock); ``lake``: the two passes over slices of the lake;
  ``staging``: the scratch DuckDB and the slices; ``items``: the vote matrix as a table;
  ``reviews``: human labels; ``decisions`` and ``rules_sql``: the rules (the live consensus,
  majority, unanimous and Dawid-Skene rules are SQL); ``dawid_skene``: the EM fit; ``rows``: the
  Consensus rows and their ids; ``summary``: what a reconcile did.
- The in-memory numpy rules the SQL is tested against are test oracles:
  ``tests.oracles.consensus``, ``tests.oracles.dawid_skene``, ``tests.oracles.reconcile_reference``.

Idempotence: each row's ``inputs_hash`` is an md5 over the strategy's settings, the votes of its
annotators on the solution (id, status, label), the solution's current submitted reviews and, for
Dawid-Skene, the learned reliabilities rounded to 2 decimals. A row is written only when the
current row of its (solution, step, strategy) was computed from other inputs (``details.inputs``),
so re-running adds nothing and new votes or reviews supersede. Returning to inputs seen before
chains the hash with the superseded row's, so the older row is not mistaken for the current one.
"""

from reconcile.config import (
    KINDS, ConsensusRule, DawidSkeneRule, ReconcileConfig, Variant, VoteRule,
)
from reconcile.inputs import (
    RULES_VERSION, VOTE_COLUMNS, params_digest, review_filter, rules_salt, vote_condition,
    vote_filter,
)
from reconcile.run import reconcile
from reconcile.statuses import PROVENANCE
from reconcile.summary import ReconcileSummary, StrategySummary, describe

__all__ = [
    "KINDS", "PROVENANCE", "RULES_VERSION", "VOTE_COLUMNS", "ConsensusRule", "DawidSkeneRule",
    "ReconcileConfig", "ReconcileSummary", "StrategySummary", "Variant", "VoteRule", "describe",
    "params_digest", "reconcile", "review_filter", "rules_salt", "vote_condition", "vote_filter",
]
