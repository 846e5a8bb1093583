"""Secrets the masker was not told about (issue 25, item 6): a key read through any
``api_key_env`` name, the token ``hf auth login`` stored, a password in a URL's userinfo, and
keys echoed back JSON-escaped (``\\/``) are masked in every log record once read."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from engines import redact


@pytest.fixture
def logged():
    """Messages of records logged through the (masking) record factory."""
    redact.install()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("probe.redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield lambda: "\n".join(r.getMessage() for r in records)
    logger.removeHandler(handler)


def test_argilla_key_from_any_variable_is_masked(monkeypatch, logged) -> None:
    from review.client import connection_from_env

    monkeypatch.setenv("ARGILLA_CRED", "argilla-cred-51c9e2d7a0")
    connection_from_env("http://127.0.0.1:6900", "ARGILLA_CRED")
    logging.getLogger("probe.redact").debug("header %s", [(b"X-Argilla-Api-Key", "argilla-cred-51c9e2d7a0")])
    assert "argilla-cred-51c9e2d7a0" not in logged()


def test_hf_login_token_file_is_masked(monkeypatch, tmp_path, logged) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_TOKEN_PATH", raising=False)
    (tmp_path / "token").write_text("hf_loginToken8d7c6b5a49")
    (tmp_path / "stored_tokens").write_text("[other]\nhf_token = hf_storedToken1a2b3c4d5e\n")
    redact.install()  # every command calls it first
    logging.getLogger("probe.redact").debug("authorization: Bearer hf_loginToken8d7c6b5a49, "
                                            "hf_storedToken1a2b3c4d5e")
    assert "hf_loginToken8d7c6b5a49" not in logged() and "hf_storedToken1a2b3c4d5e" not in logged()


@pytest.mark.parametrize("field", ["engine", "argilla"])
def test_url_password_is_masked_in_logs_and_serialised_configs(field: str, logged) -> None:
    url = "http://probe:pw-0d9e8f7a6b@127.0.0.1:9/v1"
    if field == "engine":
        from engines.config import EngineConfig

        config = EngineConfig(backend="openai", base_url=url)
    else:
        from review.config import PushConfig

        config = PushConfig(api_url=url)
    stored = json.dumps(config.model_dump(mode="json"))  # what Prefect stores as a parameter
    basic = base64.b64encode(b"probe:pw-0d9e8f7a6b").decode()  # httpx's Authorization header
    logging.getLogger("probe.redact").debug("POST %s failed; sent Basic %s; pw %s", url, basic,
                                            "pw-0d9e8f7a6b")
    assert "pw-0d9e8f7a6b" not in stored and "pw-0d9e8f7a6b" not in logged()
    assert basic not in logged()
    assert config.model_dump()[("base_url" if field == "engine" else "api_url")] == url  # usable


def test_a_url_password_nobody_registered_is_masked(logged) -> None:
    logging.getLogger("probe.redact").debug("proxy https://u:shortpw@proxy.example:3128 down")
    assert "shortpw" not in logged()


def test_json_escaped_echo_of_a_key_is_masked(logged) -> None:
    key = "sk-live/a1b2/c3d4é5f6"
    redact.register(key)
    body = json.dumps({"detail": f"invalid key {key}"})  # \u00e9
    escaped = json.dumps({"detail": f"invalid key {key}"}, ensure_ascii=False).replace("/", "\\/")
    logging.getLogger("probe.redact").debug("HTTP 401: %s / %s", body, escaped)
    text = logged()
    assert "a1b2" not in text and "c3d4" not in text, text
