"""A lake on object storage: ``stepforge run`` with an ``s3://`` lake root (pyarrow's S3
filesystem against a local S3 server, moto) stores what the same run stores in a folder."""

from __future__ import annotations

import socket
from typing import Iterator

import pytest

from store.lake import Lake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_lake_uri() -> Iterator[str]:
    """An empty bucket on a local moto S3 server; yields a lake URI inside it."""
    server_module = pytest.importorskip("moto.server")
    import pyarrow.fs as pafs

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http",
                               region="us-east-1", allow_bucket_creation=True)
        fs.create_dir("stepforge-lake")
        try:
            yield f"s3://stepforge-lake/runs/a?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
        finally:
            server.stop()


def test_run_on_an_s3_lake_matches_a_local_one(prefect_harness, s3_lake_uri, policy_config_file, tmp_path):
    from pipelines.flows.run import run_pipeline

    config = str(policy_config_file())
    remote = run_pipeline(config, s3_lake_uri)
    local = run_pipeline(config, str(tmp_path / "lake"))
    assert remote.stages["annotate"] == local.stages["annotate"]
    assert remote.overview == local.overview

    s3, folder = Lake(s3_lake_uri), Lake(tmp_path / "lake")
    assert not s3.local and s3.files("step_votes")[0].startswith("stepforge-lake/runs/a/step_votes/")
    query = "select solution_id, step_index, annotator, label, score from step_votes order by all"
    assert s3.query(query).to_pylist() == folder.query(query).to_pylist()

    again = run_pipeline(config, s3_lake_uri)  # idempotent on object storage too
    assert "0 votes on 0 solutions" in again.stages["annotate"]
    stored = len(s3.query("select solution_id from solutions"))
    assert f"{stored} solutions already labelled, not redone" in again.stages["annotate"]
    assert len(s3.query(query)) == len(folder.query(query))
