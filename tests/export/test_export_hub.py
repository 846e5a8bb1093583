"""Pushing an export to the Hub: the missing-token error, and a push through huggingface_hub to
a local HTTP endpoint standing in for the Hub (huggingface_hub ships no offline test server).

The stand-in implements what ``HfApi.create_repo`` + ``upload_folder`` call: repo creation, the
tree listing (for deletions), YAML validation, pre-upload (every file "regular", i.e. inline) and
the NDJSON commit; it keeps the committed files so the test can compare bytes."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from export import ExportConfig, WriteConfig, run_export
from export.write import HubTokenError, push_to_hub


class FakeHub(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.repos: dict[str, dict] = {}   # repo id -> {"private": bool, "files": {path: bytes}}
        self.auth: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, *args) -> None:  # quiet
        pass

    def _reply(self, value) -> None:
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        self.server.auth.append(self.headers.get("authorization"))
        repo = "/".join(self.path.split("/")[3:5])
        files = self.server.repos.get(repo, {}).get("files", {})
        self._reply([{"type": "file", "path": p, "oid": "0" * 40, "size": len(b)}
                     for p, b in sorted(files.items())])

    def do_POST(self) -> None:
        self.server.auth.append(self.headers.get("authorization"))
        body, path = self._body(), self.path
        if path == "/api/repos/create":
            req = json.loads(body)
            repo = f"{req['organization']}/{req['name']}"
            self.server.repos.setdefault(repo, {"private": req.get("visibility") == "private",
                                                "files": {}})
            return self._reply({"url": f"{self.server.url}/datasets/{repo}", "name": repo})
        if path == "/api/validate-yaml":
            return self._reply({})
        repo = "/".join(path.split("/")[3:5])
        if "/preupload/" in path:
            files = json.loads(body)["files"]
            return self._reply({"files": [{"path": f["path"], "uploadMode": "regular",
                                           "shouldIgnore": False} for f in files]})
        if "/commit/" in path:
            files = self.server.repos[repo]["files"]
            for line in body.decode().splitlines():
                op = json.loads(line)
                if op["key"] == "file":
                    files[op["value"]["path"]] = base64.b64decode(op["value"]["content"])
                elif op["key"] == "deletedFile":
                    files.pop(op["value"]["path"], None)
            return self._reply({"commitUrl": f"{self.server.url}/datasets/{repo}/commit/{'a' * 40}",
                                "commitOid": "a" * 40})
        self.send_error(404)


@pytest.fixture
def hub():
    server = FakeHub()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    import huggingface_hub.constants as constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))


def test_missing_token_is_a_clear_error_before_any_work(labelled_lake, tmp_path, no_token, hub):
    lake, _, _ = labelled_lake
    with pytest.raises(HubTokenError, match="HF_TOKEN"):
        run_export(lake, ExportConfig(), WriteConfig(out=str(tmp_path / "out"),
                                                     push_to_hub="me/set", hub_endpoint=hub.url))
    assert not (tmp_path / "out").exists()
    assert hub.auth == []  # no request reached the Hub


def test_cli_reports_the_missing_token(labelled_lake, tmp_path, no_token, capsys):
    from pipelines.cli import main

    lake, _, _ = labelled_lake
    code = main(["export", "--lake", str(lake.root), "--out", str(tmp_path / "out"),
                 "--push-to-hub", "me/set"])
    assert code == 2
    assert "no Hugging Face token" in capsys.readouterr().err


def test_push_uploads_the_folder_and_removes_stale_shards(labelled_lake, tmp_path, hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    lake, _, _ = labelled_lake
    out = tmp_path / "out"
    result = run_export(lake, ExportConfig(test_fraction=0.0), WriteConfig(
        out=str(out), shard_rows=1, push_to_hub="me/prm-set", private=True, hub_endpoint=hub.url))
    repo = hub.repos["me/prm-set"]
    assert repo["private"] is True
    assert set(hub.auth) == {"Bearer hf_test_token"}
    local = {p: (out / p).read_bytes() for p in result.written.files}
    assert repo["files"] == local and len(local) == 5
    assert result.pushed.endswith("a" * 40)

    run_export(lake, ExportConfig(test_fraction=0.0), WriteConfig(
        out=str(out), overwrite=True, push_to_hub="me/prm-set", hub_endpoint=hub.url))
    assert sorted(repo["files"]) == ["README.md", "data/train-00000-of-00001.parquet"]
    assert repo["files"]["README.md"] == (out / "README.md").read_bytes()


def test_push_of_an_existing_folder_with_an_explicit_token(tmp_path, hub, no_token):
    folder = tmp_path / "f"
    (folder / "data").mkdir(parents=True)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n")
    (folder / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1")
    url = push_to_hub(folder, "org/x", token="hf_explicit", endpoint=hub.url)
    assert "org/x" in url and hub.repos["org/x"]["private"] is False
    assert hub.repos["org/x"]["files"]["data/train-00000-of-00001.parquet"] == b"PAR1"
