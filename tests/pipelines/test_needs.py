"""What a config needs from the machine (pipelines/config/needs.py, engines/preflight.py): each check
against what is really there (a live scripted server, a closed port, a cached Hub folder)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import engines.preflight as preflight
from engines.config import EngineConfig
from engines.openai_server import start_server
from engines.scripted import ScriptedEngine
from pipelines.config.needs import hub_problem, input_problem


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_live_server_passes_and_a_closed_port_is_one_line() -> None:
    with start_server(ScriptedEngine(lambda request, i: "ok", model_id="m")) as server:
        assert preflight.engine_problem("judge", EngineConfig(backend="openai",
                                                              base_url=server.url)) is None
    url = f"http://127.0.0.1:{closed_port()}/v1"
    line = preflight.engine_problem("judge", EngineConfig(backend="openai", base_url=url))
    assert line.startswith(f"engines.judge (openai, embedded): no server answers at {url}")
    assert "\n" not in line


@pytest.mark.parametrize("gpus, vllm, lacks", [
    ([], False, "an NVIDIA GPU (nvidia-smi lists none) and vLLM (not installed)"),
    (["GPU 0: NVIDIA H100"], False, "vLLM (not installed)"),
    ([], True, "an NVIDIA GPU (nvidia-smi lists none)"),
    (["GPU 0: NVIDIA H100"], True, None),
])
def test_vllm_names_exactly_what_is_missing(monkeypatch, gpus, vllm, lacks) -> None:
    real = preflight.installed
    monkeypatch.setattr(preflight, "gpu_names", lambda: gpus)
    monkeypatch.setattr(preflight, "installed", lambda m: vllm if m == "vllm" else real(m))
    line = preflight.engine_problem("default", EngineConfig(backend="vllm", model="q"))
    if lacks is None:
        assert line is None
    else:
        assert line.startswith(f"engines.default (vllm, q): the vllm backend needs {lacks}: ")
        assert '.venv/bin/pip install -e ".[gpu]"' in line and "stepforge[gpu]" not in line


def test_hub_dataset_offline_is_fine_when_cached_and_named_when_not(monkeypatch,
                                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    import importlib

    import huggingface_hub.constants as constants

    importlib.reload(constants)  # its paths are read from the environment at import
    try:
        assert "is not cached and the Hub is off" in hub_problem("openai/gsm8k")
        (tmp_path / "datasets" / "openai___gsm8k").mkdir(parents=True)  # what datasets caches
        assert hub_problem("openai/gsm8k") is None
    finally:
        monkeypatch.undo()
        importlib.reload(constants)


def test_a_missing_local_file_is_not_sent_to_the_hub(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert input_problem("data/mine.jsonl").startswith("no file or folder data/mine.jsonl")
    (tmp_path / "mine.jsonl").write_text("{}\n")
    assert input_problem("mine.jsonl") is None


def test_the_gpu_config_is_checked_without_importing_prefect() -> None:
    """Loading and checking a config costs no Prefect import (seconds on a busy CPU), so
    `stepforge run` on a machine that lacks what the config needs answers at once."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    code = ("import sys; from pipelines.config.run_stages import load_configs; "
            "c = load_configs('configs/gpu-vllm.yaml'); "
            "from pipelines.config.needs import run_needs; run_needs(c); "
            "print('prefect' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=repo, env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
                          timeout=120)
    assert done.stdout.strip() == "False", done.stderr
