r"""Keep secrets (API keys, tokens) out of every log line, error message and Prefect log.

A process-wide set of secret values: the environment's secret-looking variables (names with
KEY, TOKEN, SECRET, PASS, CRED or AUTH), the Hugging Face token files ``hf auth login`` writes,
and every credential the code reads, registered where it is read (an engine's or Argilla's key
from whatever variable ``api_key_env`` names, the password in a URL's userinfo). Each value is
masked as it is and in the forms it takes when echoed inside JSON (``\/``-escaped slashes,
``\uXXXX`` escapes) or a URL (percent-encoded). A URL's ``user:password@`` is masked whether
registered or not (``mask_url``: also how configs holding a URL are serialised). ``install``
wraps the logging record factory, so every record of every logger (ours, httpx/httpcore at
debug level, Prefect's, whose API handler stores run logs in its database) is masked when it
is created, before any handler, formatter or truncation sees it; the traceback of an uncaught
error is masked too.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
MIN_SECRET = 8  # shorter values are too likely to occur in ordinary text
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASS|CRED|AUTH(?!OR))", re.IGNORECASE)
USERINFO = re.compile(r"(?<=://)([^\s/?#@:]*):([^\s/?#@]+)@")  # scheme://user:password@

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def register(*values: str | None) -> None:
    """Add values to mask from now on, with their JSON- and URL-escaped forms (empty or short
    values are ignored)."""
    forms = {form for v in values if v and len(v) >= MIN_SECRET for form in _forms(v)}
    with _lock:
        _secrets.update(forms)


def _forms(value: str) -> set[str]:
    r"""``value`` and how it reads once escaped: JSON (``\/`` optional, ``\uXXXX`` for
    non-ASCII) and percent-encoding."""
    forms = {value, value.replace("/", "\\/"), quote(value, safe="")}
    for escaped in (json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
        forms |= {escaped, escaped.replace("/", "\\/")}
    return forms


def register_url(url: str | None) -> None:
    """Register the password (and ``user:password``) of a URL's userinfo, as read."""
    if not url or "@" not in url:
        return
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return
    if password:
        user = parts.username or ""
        basic = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        register(password, unquote(password), f"{user}:{password}", basic)  # basic: httpx's header


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo replaced by ``***``."""
    return USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", url)


def token_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where ``hf auth login`` stores tokens (huggingface_hub's defaults and overrides)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HF_HOME") or Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "huggingface")
    return [Path(env.get("HF_TOKEN_PATH") or home / "token"),
            Path(env.get("HF_STORED_TOKENS_PATH") or home / "stored_tokens")]


def register_token_files(environ: Mapping[str, str] | None = None) -> None:
    """Register the Hugging Face tokens stored on this machine (read by huggingface_hub for a
    Hub dataset or a push, where this code never sees them)."""
    for index, path in enumerate(token_files(environ)):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if index == 0:  # the active token, alone in its file
            register(text.strip())
        else:  # an INI file: [name] sections with hf_token = ...
            register(*(line.split("=", 1)[1].strip() for line in text.splitlines()
                       if line.strip().startswith("hf_token") and "=" in line))


def register_environment(environ: Iterable[tuple[str, str]] | None = None) -> None:
    """Register the values of secret-looking environment variables."""
    items = list(os.environ.items() if environ is None else environ)
    register(*(value for name, value in items if SECRET_NAME.search(name)))
    for name, value in items:  # a URL with a password, in any variable
        if "://" in value and "@" in value:
            register_url(value)


def mask(text: str) -> str:
    """``text`` with every registered secret, and any URL's password, replaced by ``***``
    (longest first)."""
    if "@" in text:
        text = mask_url(text)
    with _lock:
        found = sorted((s for s in _secrets if s in text), key=len, reverse=True)
    for secret in found:
        text = text.replace(secret, MASK)
    return text


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Format the record's message (and traceback) now and mask them, when they hold a secret."""
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
    register_token_files()
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
