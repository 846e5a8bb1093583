"""Content-derived ids: the same content always gives the same id, so re-runs are idempotent."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: a stable text form for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def stable_id(kind: str, *parts: Any) -> str:
    """A 16-hex-digit id from a kind prefix and content parts (strings, numbers, lists, dicts)."""
    digest = hashlib.sha256(canonical_json([kind, *parts]).encode("utf-8")).hexdigest()
    return digest[:16]


def normalize_text(text: str) -> str:
    """Whitespace-normalised text, so trailing spaces or CRLF do not change an id."""
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n"))
