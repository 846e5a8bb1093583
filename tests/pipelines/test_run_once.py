"""``stepforge run`` reads its config file once and takes the lake lock once: the command loads
and locks, the flow (``run_loaded``) gets both; the annotate subflow runs under the run's lock."""

from __future__ import annotations

import collections

import pytest

pytestmark = pytest.mark.slow


def test_run_reads_the_config_and_locks_the_lake_once(prefect_harness, tmp_path, monkeypatch) -> None:
    import pipelines.config.project as project
    import pipelines.flows.annotate
    import pipelines.flows.run
    import store.lock as lock
    from pipelines.cli import main

    counts: collections.Counter = collections.Counter()

    def counted(module, name):
        real = getattr(module, name)

        def call(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, call)

    counted(project, "read_yaml")  # what read_project reads the file with
    for module in (lock, pipelines.flows.run, pipelines.flows.annotate):
        counted(module, "lake_lock")  # entered, even re-entrantly
    assert main(["run", "--lake", str(tmp_path / "lake"), "--stages", "ingest", "--quiet"]) == 0
    assert counts == {"read_yaml": 1, "lake_lock": 1}
