"""Keep secrets (API keys, tokens) out of every log line, error message and Prefect log.

A process-wide set of secret values: the environment's secret-looking variables (names with
KEY, TOKEN, SECRET or PASSWORD) and whatever an engine registers (the key it sends). ``install``
wraps the logging record factory, so every record of every logger (ours, httpx/httpcore at
debug level, Prefect's, whose API handler stores run logs in its database) is masked when it
is created, before any handler, formatter or truncation sees it; the traceback of an uncaught
error is masked too.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
from typing import Any, Iterable

MASK = "***"
MIN_SECRET = 8  # shorter values are too likely to occur in ordinary text
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def register(*values: str | None) -> None:
    """Add values to mask from now on (empty or short values are ignored)."""
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= MIN_SECRET)


def register_environment(environ: Iterable[tuple[str, str]] | None = None) -> None:
    """Register the values of secret-looking environment variables."""
    items = os.environ.items() if environ is None else environ
    register(*(value for name, value in items if SECRET_NAME.search(name)))


def mask(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (longest first)."""
    with _lock:
        found = sorted((s for s in _secrets if s in text), key=len, reverse=True)
    for secret in found:
        text = text.replace(secret, MASK)
    return text


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Format the record's message (and traceback) now and mask them, when they hold a secret."""
    if not _secrets:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: logging reports it later, as it would anyway
        return record
    masked = mask(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        trace = logging.Formatter().formatException(record.exc_info)
        if mask(trace) != trace:  # else leave the formatting to the handler
            record.exc_text = mask(trace)
    if record.stack_info:
        record.stack_info = mask(record.stack_info)
    return record


class SecretFilter(logging.Filter):
    """A handler filter doing the same, for handlers built by code that replaces the factory."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def install() -> None:
    """Mask every log record of this process from now on (idempotent)."""
    global _installed
    register_environment()
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    if sys.excepthook is sys.__excepthook__:  # an uncaught error's traceback too
        sys.excepthook = _masked_excepthook


def _masked_excepthook(kind: type[BaseException], value: BaseException, trace: Any) -> None:
    sys.stderr.write(mask("".join(traceback.format_exception(kind, value, trace))))
