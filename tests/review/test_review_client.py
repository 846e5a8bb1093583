"""Retries, backoff, clear errors and no leaked API key when Argilla is down or slow."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import httpx
import pytest

from review.client import Connection, ReviewError, connection_from_env, is_transient, redact, with_retries
from review.config import PullConfig, PushConfig
from review.pull import pull
from review.push import push

SECRET = "sk-test-7f3a9c-secret"


def _lake_files(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers (a hung Argilla)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted = []
    stop = threading.Event()

    def serve():
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", accepted
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    sock.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_transient_errors_are_retried_with_backoff_then_reported():
    conn = Connection("http://argilla.example", SECRET, retries=3, backoff=0.5)
    delays, calls = [], []

    def flaky():
        calls.append(1)
        raise httpx.ConnectError(f"refused (key {SECRET})")

    with pytest.raises(ReviewError) as info:
        with_retries(conn, "logging records", flaky, sleep=delays.append)
    assert len(calls) == 4 and delays == [0.5, 1.0, 2.0]
    message = str(info.value)
    assert "unavailable while logging records" in message and "gave up after 4 tries" in message
    assert SECRET not in message and "***" in message


def test_success_after_a_transient_failure():
    conn = Connection("http://x", SECRET, retries=2, backoff=0)
    outcomes = iter([httpx.ReadTimeout("slow"), "ok"])

    def call():
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return item

    assert with_retries(conn, "x", call, sleep=lambda s: None) == "ok"


def test_client_errors_fail_at_once():
    conn = Connection("http://x", SECRET, retries=5, backoff=0)
    request = httpx.Request("GET", "http://x/api/v1/me")
    calls = []

    def unauthorized():
        calls.append(1)
        raise httpx.HTTPStatusError("401", request=request, response=httpx.Response(401, request=request))

    with pytest.raises(ReviewError, match="refused checking"):
        with_retries(conn, "checking", unauthorized, sleep=lambda s: None)
    assert len(calls) == 1
    server_error = httpx.HTTPStatusError("503", request=request, response=httpx.Response(503, request=request))
    assert is_transient(server_error) and not is_transient(ValueError("bad"))


def test_key_comes_from_the_environment_and_never_shows(monkeypatch):
    monkeypatch.setenv("MY_ARGILLA_KEY", SECRET)
    monkeypatch.setenv("ARGILLA_API_URL", "http://argilla.example:6900/")
    conn = connection_from_env(api_key_env="MY_ARGILLA_KEY")
    assert conn.api_url == "http://argilla.example:6900" and conn.api_key == SECRET
    assert SECRET not in repr(conn)
    monkeypatch.delenv("MY_ARGILLA_KEY")
    with pytest.raises(ReviewError, match=r"\$MY_ARGILLA_KEY"):
        connection_from_env(api_key_env="MY_ARGILLA_KEY")
    assert redact(f"x {SECRET} y {SECRET}", SECRET) == "x *** y ***"


def test_push_to_a_down_server_fails_clearly_and_leaves_the_lake_alone(disputed_lake, monkeypatch, caplog):
    lake = disputed_lake(3)
    before = _lake_files(Path(lake.root))
    monkeypatch.setenv("ARGILLA_API_KEY", SECRET)
    config = PushConfig(api_url=f"http://127.0.0.1:{_closed_port()}", retries=2, backoff=0.01)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ReviewError) as info:
            push(config, lake)
    assert "unavailable while connecting (gave up after 3 tries)" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in caplog.text
    assert caplog.text.count("retry") == 2
    assert _lake_files(Path(lake.root)) == before


def test_pull_from_a_hung_server_times_out_and_stores_nothing(disputed_lake, monkeypatch, silent_server):
    url, accepted = silent_server
    lake = disputed_lake(2)
    monkeypatch.setenv("ARGILLA_API_KEY", SECRET)
    config = PullConfig(api_url=url, timeout=0.3, retries=1, backoff=0.01)
    with pytest.raises(ReviewError, match="gave up after 2 tries") as info:
        pull(config, lake)
    assert "Timeout" in str(info.value) and SECRET not in str(info.value)
    assert len(accepted) == 2
    assert lake.read("reviews").num_rows == 0
