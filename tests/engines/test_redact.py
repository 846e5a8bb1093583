"""Secrets never reach a log line or an error: masked before any cut, in every handler
(httpx/httpcore debug lines included) and in what Prefect stores."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engines import EngineConfig, GenerationRequest, redact
from engines.openai_engine import EXCERPT, OpenAIEngine, OpenAIEngineError

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-redact-7f3a9c1e5b2d4f6a8c0e"
BODY_PREFIX = 290  # the key starts 10 characters before the 300-character cut


class Echo(BaseHTTPRequestHandler):
    """Answers every request 400 with the caller's key in a header and across the body's cut."""

    def _answer(self) -> None:
        token = self.headers.get("authorization", "").removeprefix("Bearer ")
        body = ("x" * BODY_PREFIX + token + " tail").encode()
        self.send_response(400)
        self.send_header("X-Echo-Authorization", f"Bearer {token}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def fragments(secret: str) -> list[str]:
    """Every 8-character piece of the secret's random part: none may appear."""
    tail = secret.removeprefix("sk-redact-")
    return [tail[i:i + 8] for i in range(len(tail) - 7)]


def test_a_key_straddling_the_cut_is_masked_before_cutting(echo_server, monkeypatch):
    monkeypatch.setenv("STEPFORGE_REDACT_TEST", KEY)
    engine = OpenAIEngine(EngineConfig(backend="openai", base_url=echo_server, model="m",
                                       api_key_env="STEPFORGE_REDACT_TEST", max_retries=0))
    with pytest.raises(OpenAIEngineError) as error:
        engine.generate([GenerationRequest(prompt="hi")])
    message = str(error.value)
    assert "HTTP 400" in message and "***" in message and "x" * 50 in message
    assert not [f for f in fragments(KEY) if f in message]
    assert BODY_PREFIX + len("***") <= EXCERPT + 10


def test_every_log_record_is_masked_even_preformatted_and_tracebacks():
    redact.register(KEY)
    redact.install()
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(logging.Formatter("%(message)s").format(record))

    logger = logging.getLogger("third.party.lib")
    logger.addHandler(keep := Keep())
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("headers %r", [(b"x-echo", KEY.encode())])
        logger.warning(f"plain {KEY[:20]}|{KEY}")
        try:
            raise RuntimeError(f"boom {KEY}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(keep)
    text = "\n".join(records)
    assert "x-echo" in text and "boom ***" in text and "RuntimeError" in text
    assert KEY not in text


def test_verbose_cli_masks_a_key_echoed_in_a_response_header(echo_server):
    """`stepforge -v`: httpcore's debug log prints response headers; the echoed key is masked."""
    probe = ("import sys\n"
             "import pipelines.commands.sql as command\n"
             "from engines import EngineConfig, GenerationRequest\n"
             "from engines.openai_engine import OpenAIEngine\n"
             "from pipelines.cli import main\n"
             "def run(args):  # `stepforge -v sql` whose work is one engine call\n"
             "    OpenAIEngine(EngineConfig(backend='openai', base_url=%r, model='m', "
             "max_retries=0)).generate([GenerationRequest(prompt='hi')])\n"
             "command.run = run\n"
             "sys.exit(main(['-v', 'sql', 'SELECT 1']))\n") % echo_server
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "OPENAI_API_KEY": KEY}
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    output = done.stdout + done.stderr
    assert "x-echo-authorization" in output.lower(), output[-3000:]  # httpcore logged the header
    assert "HTTP 400" in output and done.returncode != 0
    assert not [f for f in fragments(KEY) if f in output], output[-3000:]


def test_prefect_stores_run_logs_masked(prefect_harness):
    """Prefect's API log handler ships run logs to its database: they arrive masked."""
    from prefect import flow, get_client, get_run_logger, task
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler
    from prefect.utilities.asyncutils import run_coro_as_sync

    redact.register(KEY)
    redact.install()

    @task
    def leak() -> None:
        get_run_logger().warning("task sees %s", KEY)

    @flow
    def leaky() -> str:
        get_run_logger().warning(f"flow sees {KEY}")
        leak()
        from prefect.runtime import flow_run
        return flow_run.id

    run_id = leaky()

    async def read():
        await APILogHandler.aflush()
        async with get_client() as client:
            return await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))

    messages: list[str] = []
    for _ in range(50):  # the handler ships logs in the background
        messages = [log.message for log in run_coro_as_sync(read())]
        if sum("sees" in m for m in messages) == 2:
            break
        time.sleep(0.2)
    assert any("flow sees ***" in m for m in messages) and any("task sees ***" in m for m in messages)
    assert not any(KEY in m for m in messages)


def test_an_uncaught_error_prints_its_traceback_masked():
    probe = ("from engines import redact\n"
             "redact.install()\n"
             "raise RuntimeError('server said: ' + __import__('os').environ['MY_API_KEY'])\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "MY_API_KEY": KEY},
                          timeout=60, check=False)
    assert done.returncode == 1 and "RuntimeError: server said: ***" in done.stderr
    assert KEY not in done.stderr
