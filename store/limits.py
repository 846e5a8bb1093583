"""DuckDB memory limits shared by the bounded-memory stages (reconcile, export, report)."""

from __future__ import annotations

import os
import re

CAP_MB = 4096  # DuckDB's share of a 6 GB peak, on machines of any size


def default_memory_limit() -> str:
    """An eighth of the machine's RAM, at least 1 GB and at most ``CAP_MB``: DuckDB spills to
    disk beyond it, and the process's own memory needs room beside it."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 << 30
    return f"{min(max(1 << 30, total // 8) >> 20, CAP_MB)}MB"


def memory_bytes(text: str) -> int:
    """Bytes of a DuckDB memory size such as ``4GB``, ``512MiB`` or ``3.5 GB``."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?I?B?)\s*", text.upper())
    if not match:
        raise ValueError(f"memory_limit: {text!r} is not a size such as 4GB")
    unit = match.group(2).rstrip("B")
    power = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}[unit.rstrip("I")]
    return int(float(match.group(1)) * (1024 if "I" in unit else 1000) ** power)
