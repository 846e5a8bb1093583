"""Convenience views over the base tables, created in the catalog after the table views.

Each entry is ``(view name, SQL body)``; bodies may reference the table views (``problems``,
``solutions``, ``step_votes``, ``consensus``, ``reviews``) and earlier views of this list.
"""

from __future__ import annotations

# One row per solution step: the step text next to its solution's grade, so step-level analyses
# join on (solution_id, step_index) without unnesting ``solutions.steps`` themselves.
STEPS = """
SELECT solution_id, problem_id, generator, step_index,
       steps[step_index + 1] AS step,
       len(steps) AS n_steps,
       step_index = len(steps) - 1 AS is_last,
       is_correct, final_answer
FROM (SELECT *, unnest(range(len(steps))) AS step_index FROM solutions)
"""

# What each annotator configuration cost: tokens and rollouts, totals and per vote/solution,
# and how many of its votes were labeled, unparsed or skipped.
VOTE_COSTS = """
SELECT annotator, annotator_version, config_hash, model,
       count(*) AS votes,
       count(DISTINCT solution_id) AS solutions,
       count(*) FILTER (WHERE status = 'labeled') AS labeled,
       count(*) FILTER (WHERE status = 'unparsed') AS unparsed,
       count(*) FILTER (WHERE status = 'skipped') AS skipped,
       sum(prompt_tokens)::BIGINT AS prompt_tokens,
       sum(completion_tokens)::BIGINT AS completion_tokens,
       sum(prompt_tokens + completion_tokens)::BIGINT AS total_tokens,
       sum(rollouts)::BIGINT AS rollouts,
       sum(prompt_tokens + completion_tokens) / count(*) AS tokens_per_vote,
       sum(prompt_tokens + completion_tokens) / count(DISTINCT solution_id) AS tokens_per_solution,
       min(created_at) AS first_vote_at,
       max(created_at) AS last_vote_at
FROM step_votes
GROUP BY annotator, annotator_version, config_hash, model
"""

CONVENIENCE_VIEWS: list[tuple[str, str]] = [
    ("steps", STEPS),
    ("vote_costs", VOTE_COSTS),
]
