"""The policy prompt: how a problem is posed to the model that writes solutions.

Solutions are asked for as short steps separated by a blank line (so ``split_steps`` with
``paragraphs``/``auto`` recovers them) ending with "The answer is: <number>" (so
``extract_answer`` finds the answer). Monte Carlo rollouts reuse the same messages and continue
``prefix_text(steps)``, the partial assistant answer holding the first steps, so a rollout sees
exactly what the policy would have seen had it written those steps itself.

The prompt is kept short: the embedded model (SmolLM2-135M) has a small context and every
rollout pays for these tokens again. Changing the wording changes what is generated, so bump
``POLICY_PROMPT_VERSION`` (it is part of the generation fingerprint and the MC annotator's
version).
"""

from __future__ import annotations

from typing import Sequence

POLICY_PROMPT_VERSION = "policy-v1"

SYSTEM_PROMPT = "You are a careful math tutor who solves problems step by step."
INSTRUCTION = (
    "Solve the problem step by step. Separate the steps with a blank line. "
    'End with "The answer is: <number>".'
)


def solve_messages(question: str) -> list[dict[str, str]]:
    """The chat messages asking the policy for a step-by-step solution of ``question`` (the
    instruction follows the question in the user turn: small models heed it best there)."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"{question.strip()}\n\n{INSTRUCTION}"},
    ]


def prefix_text(steps: Sequence[str]) -> str:
    """The partial assistant answer holding ``steps``, ready to be continued: the steps joined by
    a blank line, plus a trailing blank line so the continuation starts a new step ("" for no
    step: the rollout starts from the bare problem)."""
    kept = [step.strip() for step in steps]
    return "\n\n".join(kept) + "\n\n" if kept else ""
