"""What a config needs from this machine, checked when it loads and only for the stages that
will run: each engine built or reached (engines/preflight.py: a GPU and vLLM for the vllm
backend, a server for openai), the Hub for a Hub dataset among the inputs. Each unmet need is
one line saying what to do; nothing is written before.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from engines.config import EngineConfig
from engines.preflight import PROBE_TIMEOUT, NeedsUnmet, engine_problem

HUB = "https://huggingface.co"


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hub_cached(dataset: str) -> bool:
    """Whether ``dataset`` was downloaded here before (the Hub cache or the datasets cache),
    so `datasets` can load it offline."""
    from huggingface_hub import constants

    home = Path(constants.HF_HOME)
    hub = Path(constants.HF_HUB_CACHE) / ("datasets--" + dataset.replace("/", "--"))
    built = Path(os.environ.get("HF_DATASETS_CACHE", home / "datasets")) / dataset.replace("/", "___")
    return hub.is_dir() or built.is_dir()


def hub_problem(dataset: str) -> str | None:
    """Why the Hub dataset ``dataset`` cannot be loaded here (offline and not cached, unknown,
    gated), in one line; None when it can."""
    if hub_cached(dataset):
        return None
    local = ("ingest a local copy instead (a .jsonl/.parquet file or a save_to_disk folder, "
             "downloaded where huggingface.co is reachable)")
    if _truthy("HF_HUB_OFFLINE") or _truthy("HF_DATASETS_OFFLINE"):
        return f"the Hub dataset {dataset} is not cached and the Hub is off (HF_HUB_OFFLINE): {local}"
    import httpx

    endpoint = os.environ.get("HF_ENDPOINT", HUB).rstrip("/")
    try:
        response = httpx.get(f"{endpoint}/api/datasets/{dataset}", timeout=PROBE_TIMEOUT,
                             follow_redirects=True)
    except httpx.HTTPError as error:
        cause = (str(error).strip().splitlines() or [""])[0] or type(error).__name__
        return f"the Hub dataset {dataset} needs {endpoint}, unreachable ({cause}): {local}"
    if response.status_code == 404:
        return f"no dataset {dataset} on {endpoint} (HTTP 404): check the id"
    if response.status_code in (401, 403):
        return (f"the Hub dataset {dataset} is gated or private (HTTP {response.status_code}): "
                "log in with `hf auth login` after accepting its terms")
    return None


FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".txt", ".arrow")


def is_hub_id(path: str) -> bool:
    """An input that is no local file or folder: `datasets` looks it up on the Hub."""
    return not Path(path).exists() and not path.startswith(("s3://", "gs://", "hf://"))


def input_problem(path: str) -> str | None:
    """Why the input ``path`` cannot be read here: a missing local file, or a Hub dataset
    that cannot be loaded (:func:`hub_problem`); None when it can."""
    if not is_hub_id(path):
        return None
    if path.startswith((".", "/", "~")) or path.lower().endswith(FILE_SUFFIXES):
        return f"no file or folder {path} (from {Path.cwd()})"
    return hub_problem(path)


def run_needs(configs: Any) -> list[Callable[[], str | None]]:
    """Checks for what ``stepforge run`` with ``configs`` (the loaded ProjectConfig) needs,
    only for its stages: one callable per need, returning a line when unmet."""
    stages = configs.run.stages
    checks: list[Callable[[], str | None]] = []
    if "ingest" in stages:
        for i, spec in enumerate(configs.run.inputs):
            path = spec.resolved()
            if is_hub_id(path):
                checks.append(lambda i=i, path=path: _named(f"run.inputs[{i}]", input_problem(path)))
    engines: dict[str, EngineConfig] = {}
    if "generate" in stages:
        engines[configs.generate.engine] = configs.engine(configs.generate.engine)
    if "annotate" in stages:
        for name in configs.annotate.annotators:
            engines |= configs.annotate.engines_used(name, configs.engines)
    checks += [lambda role=role, config=config: engine_problem(role, config)
               for role, config in engines.items()]
    if "annotate" in stages and configs.run.task_runner == "ray":
        checks.append(_ray_problem)
    return checks


def _ray_problem() -> str | None:
    from engines.preflight import installed

    if installed("prefect_ray"):
        return None
    return ("run.task_runner: ray needs prefect-ray, not installed: `make install` in this "
            "checkout or `.venv/bin/pip install -e \".[ray]\"`")


def _named(where: str, problem: str | None) -> str | None:
    return f"{where}: {problem}" if problem else None


def check_needs(checks: list[Callable[[], str | None]]) -> None:
    """Run every check concurrently; raise :class:`NeedsUnmet` with each unmet need's line."""
    if not checks:
        return
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        problems = [line for line in pool.map(lambda check: check(), checks) if line]
    if problems:
        raise NeedsUnmet(problems)
