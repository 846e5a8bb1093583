"""A deterministic policy served over a real OpenAI-compatible HTTP server, for the flow tests
that must compare runs (crash and resume, Ray vs one process): its answers depend only on the
request (prompt, continuation, seed, sample index), never on batching, timing or the process
that asks, so two correct runs store identical votes."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Iterator

import pytest

from engines.base import GenerationRequest
from engines.openai_server import Faults, start_server
from engines.scripted import ScriptedEngine, request_text
from schemas.ids import stable_id

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
GSM8K_SOLUTIONS = SAMPLES / "gsm8k_model_solutions_50.jsonl"


def gold_answers(rows: int) -> dict[str, str]:
    """question -> gold answer of the first ``rows`` rows of the bundled GPT-3 solutions."""
    out = {}
    for line in GSM8K_SOLUTIONS.read_text().splitlines()[:rows]:
        row = json.loads(line)
        out[row["question"]] = row["ground_truth"].rsplit("A:", 1)[-1].strip()
    return out


def deterministic_policy(golds: dict[str, str]) -> ScriptedEngine:
    """Completes a prefix with 'The answer is: X': the gold answer with probability 0.6 while
    the prefix holds no digit 7, 0.1 after (a planted 'error'), drawn from a hash of the request."""

    def script(request: GenerationRequest, index: int) -> str:
        text = request_text(request)
        gold = next((g for q, g in golds.items() if q in text), "0")
        tainted = bool(re.search(r"7", request.continuation or ""))
        rng = random.Random(stable_id("policy", text, request.seed, index))
        right = rng.random() < (0.1 if tainted else 0.6)
        return f"So the result follows.\nThe answer is: {gold if right else gold + '1'}"

    return ScriptedEngine(script, model_id="deterministic-policy")


@pytest.fixture(scope="module")
def policy_server() -> Iterator[tuple[str, Faults]]:
    """The deterministic policy of the first 4 GSM8K solution rows over HTTP: (base URL, faults);
    tests set ``faults.delay`` to slow it down."""
    faults = Faults()
    with start_server(deterministic_policy(gold_answers(4)), faults=faults) as server:
        yield server.url, faults


@pytest.fixture
def solutions_jsonl(tmp_path: Path) -> Path:
    """The first 4 rows of the bundled GPT-3 GSM8K solutions (two solutions each)."""
    path = tmp_path / "solutions.jsonl"
    path.write_text("\n".join(GSM8K_SOLUTIONS.read_text().splitlines()[:4]) + "\n")
    return path


def policy_config(url: str, solutions: Path, **annotate) -> dict:
    """A project config: the policy server as the default engine, the solutions as input,
    mc-binary and mc-soft labelling them one solution per batch."""
    return {
        "engines": {"default": {"backend": "openai", "model": "deterministic-policy",
                                "base_url": url, "max_retries": 1}},
        "run": {"inputs": [{"path": str(solutions), "kind": "solutions"}],
                "stages": ["ingest", "annotate", "reconcile"]},
        "annotate": {"annotators": ["mc-binary", "mc-soft"], "batch_solutions": 1, "parallel": 1,
                     "settings": {"mc-binary": {"k": 4, "max_tokens": 16},
                                  "mc-soft": {"k": 4, "max_tokens": 16}}, **annotate},
        "reconcile": {"strategies": ["majority"]},
    }


@pytest.fixture
def policy_config_file(policy_server, solutions_jsonl, tmp_path):
    """Writes ``policy_config`` (with annotate overrides) to a YAML file; returns its path."""
    import yaml

    def write(**annotate) -> Path:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(policy_config(policy_server[0], solutions_jsonl, **annotate)))
        return path

    return write
