"""Shared fixtures: a temporary lake, the embedded model (loaded once per session), scripted
engines, and one Prefect test harness per session (a cold embedded Prefect server costs ~18 s)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent

# A datasets cache of this session's own (set before anything imports datasets): pytest reuses
# tmp paths across sessions, and datasets keys a local folder's cache on its path, so
# load_dataset(DIR) could return an earlier session's export instead of the one just written.
_HF_CACHE = tempfile.mkdtemp(prefix="stepforge-hf-datasets-")
os.environ["HF_DATASETS_CACHE"] = _HF_CACHE
atexit.register(shutil.rmtree, _HF_CACHE, True)
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


@pytest.fixture
def run_cli():
    """Runs ``stepforge ARGS`` in-process: (exit status, stdout, stderr). Used instead of capsys
    by tests that run Prefect flows: a flow run inside a capsys test leaves Prefect's console
    logging bound to capsys's stream, closed once the test ends, and later flows then fail."""
    import contextlib
    import io

    from pipelines.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(list(args))
        return status, out.getvalue(), err.getvalue()

    return run


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
