"""Connecting to Argilla: credentials from the environment, retries with backoff, clear errors.

The API key is read from an environment variable (never a command-line flag, which would leave it
in shell history and ``ps``) and is scrubbed from every message this package logs or raises.
Transient failures (connection refused or reset, timeouts, 5xx answers) are retried with
exponential backoff; anything else (a rejected key, a bad request) fails at once.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

import httpx

from engines import redact as secrets

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_API_URL = "http://localhost:6900"
TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


class ReviewError(RuntimeError):
    """Argilla could not be reached or refused a request; the message names what was tried."""


@dataclass(frozen=True)
class Connection:
    """Where the Argilla server is and how patiently to talk to it."""

    api_url: str
    api_key: str
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 1.0

    def __repr__(self) -> str:  # never print the key
        return f"Connection(api_url={self.api_url!r}, api_key='***', timeout={self.timeout}, retries={self.retries})"


def connection_from_env(api_url: str | None = None, api_key_env: str = "ARGILLA_API_KEY",
                        timeout: float = 30.0, retries: int = 4, backoff: float = 1.0) -> Connection:
    """A Connection from ``api_url`` (or $ARGILLA_API_URL) and the key in ``$api_key_env``."""
    url = api_url or os.environ.get("ARGILLA_API_URL") or DEFAULT_API_URL
    key = os.environ.get(api_key_env, "")
    secrets.register(key)  # masked in every log record from now on (-v logs response headers)
    secrets.register_url(url)
    if not key:
        raise ReviewError(f"no Argilla API key: set ${api_key_env} (`stepforge review serve` "
                          "prints the local server's URL and key)")
    return Connection(url.rstrip("/"), key, timeout, retries, backoff)


def redact(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` (and every registered secret) replaced
    by ***."""
    return secrets.mask(text.replace(secret, "***") if secret else text)


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of an httpx or Argilla SDK error, if it carries one."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: network trouble, timeouts, overload and server errors."""
    if isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError)):
        return True
    code = status_code(exc)
    if code is not None:
        return code in TRANSIENT_STATUS
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and is_transient(cause)


def with_retries(conn: Connection, what: str, fn: Callable[[], T],
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``fn``; retry transient failures ``conn.retries`` times (backoff 1x, 2x, 4x...), then
    raise ReviewError naming ``what`` and the server, with the API key scrubbed."""
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised as ReviewError
            detail = redact(f"{type(exc).__name__}: {exc}", conn.api_key)
            if not is_transient(exc):
                raise ReviewError(f"Argilla at {conn.api_url} refused {what}: {detail}") from None
            if attempt >= conn.retries:
                raise ReviewError(
                    f"Argilla at {conn.api_url} unavailable while {what} "
                    f"(gave up after {attempt + 1} tries): {detail}") from None
            delay = conn.backoff * (2 ** attempt)
            log.warning("Argilla %s failed (%s); retry %d/%d in %.1fs",
                        what, detail, attempt + 1, conn.retries, delay)
            sleep(delay)
            attempt += 1


def connect(conn: Connection) -> Any:
    """An ``argilla.Argilla`` client (the SDK validates the key on connect), with retries."""
    import argilla as rg

    def _open() -> Any:
        return rg.Argilla(api_url=conn.api_url, api_key=conn.api_key,
                          timeout=int(max(1, conn.timeout)), retries=0)

    return with_retries(conn, "connecting", _open)


def get_json(client: Any, conn: Connection, path: str, what: str, **params: Any) -> Any:
    """GET a REST path of the Argilla API with retries; the decoded JSON."""
    def _get() -> Any:
        response = client.http_client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    return with_retries(conn, what, _get)


def paged(client: Any, conn: Connection, path: str, what: str, page: int = 500,
          **params: Any) -> Iterator[dict]:
    """Every item of a paged (offset/limit) Argilla list endpoint."""
    offset = 0
    while True:
        body = get_json(client, conn, path, what, offset=offset, limit=page, **params)
        items = body.get("items", [])
        yield from items
        offset += len(items)
        if not items or offset >= body.get("total", offset):
            return
