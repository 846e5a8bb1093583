"""Shared fixtures: a temporary lake, the embedded model (loaded once per session), scripted
engines, and one Prefect test harness per session (a cold embedded Prefect server costs ~18 s)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLES = REPO / "data" / "samples"


@pytest.fixture
def lake(tmp_path: Path):
    from store.lake import Lake

    return Lake(tmp_path / "lake")


@pytest.fixture(scope="session")
def embedded_engine():
    """SmolLM2-135M-Instruct on CPU through the transformers engine (about 20 s to load)."""
    from engines.config import EngineConfig
    from engines.factory import build_engine

    return build_engine(EngineConfig())


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def gsm8k_rows() -> list[dict]:
    """The first 50 GSM8K test problems shipped in data/samples."""
    path = SAMPLES / "gsm8k_test_50.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
