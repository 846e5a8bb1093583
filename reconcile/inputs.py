"""What a reconcile reads (the votes and reviews a config selects) and the salt of the hash that
says which inputs a row was computed from.

Each row's ``inputs_hash`` is an md5 over this salt (the strategy's name, kind and settings, the
rules' version and, for Dawid-Skene, the learned reliabilities rounded to 2 decimals), the votes
of its annotators on the solution (id, status, label) and the solution's submitted reviews.
"""

from __future__ import annotations

import json

from reconcile.config import ReconcileConfig
from store.sql import in_list

VOTE_COLUMNS = ("solution_id, step_index, annotator, annotator_version, config_hash, status, "
                "label, score, json_extract_string(details, '$.provenance') AS provenance, "
                "created_at, vote_id")
# In every row's inputs hash: bumped when the rules change what the same votes give (2: the
# newest run of an annotator wins; single-source labels are not agreed), so a reconcile after
# the change rewrites rows computed under the old rules.
RULES_VERSION = "2"


def vote_condition(config: ReconcileConfig) -> str:
    """The condition ("" for all) on the votes ``config`` reconciles."""
    where = []
    if config.annotators is not None:
        where.append(f"annotator IN {in_list(config.annotators)}")
    if config.solution_ids is not None:
        where.append(f"solution_id IN {in_list(config.solution_ids)}")
    return " AND ".join(where)


def vote_filter(config: ReconcileConfig) -> str:
    """The WHERE clause ("" for all) of the votes ``config`` reconciles."""
    condition = vote_condition(config)
    return f" WHERE {condition}" if condition else ""


def review_filter(config: ReconcileConfig) -> str:
    """The condition of the submitted reviews ``config`` reads (when it reads reviews)."""
    return "status = 'submitted'" + (f" AND solution_id IN {in_list(config.solution_ids)}"
                                     if config.solution_ids is not None else "")


def rules_salt(name: str, kind: str, rule_hash: str, details: dict[str, list]) -> str:
    """The salt of a strategy's inputs hash: its name, kind, settings, the rules' version and,
    for Dawid-Skene, the rounded reliabilities."""
    return f"{name}|{kind}|{rule_hash}|r{RULES_VERSION}|{params_digest(details)}"


def params_digest(details: dict[str, list]) -> str:
    """Dawid-Skene reliabilities rounded to 2 decimals (they shape every posterior)."""
    params = {k: details.get(k) for k in ("annotator", "sensitivity", "specificity")}
    if params["annotator"] is None:
        return ""
    return json.dumps({k: [round(v, 2) if isinstance(v, float) else v for v in vs]
                       for k, vs in params.items()}, sort_keys=True)
