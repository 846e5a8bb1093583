"""The README's CLI block, walked in order on a fresh lake as a new user would: each command
exits as the README implies and prints something. The model behind ``--config embedded`` is a
scripted policy over a local OpenAI-compatible server (the embedded model would take minutes)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from engines.base import GenerationRequest
from engines.openai_server import start_server
from engines.scripted import ScriptedEngine, request_text
from pipelines.config.files import PRESETS

REPO = Path(__file__).resolve().parents[2]

# what the README implies beyond "exits 0 and prints something": (exit status, text expected)
EXPECTED = {
    "stepforge review push": (1, "Argilla"),  # "needs Argilla": no server in this test
}


def readme_commands() -> list[str]:
    """The commands of the README's CLI block, comments dropped, ``a && b`` split."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"## CLI\n.*?```bash\n(.*?)```", text, re.S).group(1)
    commands = []
    for line in block.splitlines():
        line = line.split(" #", 1)[0].strip()
        commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def scripted_policy() -> ScriptedEngine:
    """Solutions: two steps and the gold answer (wrong for every other problem); judge prompts:
    a ProcessBench critique putting the error on the last paragraph of a wrong-answer problem
    (a JSON verdict calling every step correct for the critic style); rollouts: the gold
    answer."""
    rows = [json.loads(line) for line in (REPO / "data/samples/gsm8k_test_50.jsonl")
            .read_text().splitlines() if line.strip()]
    golds = {r["question"]: r["answer"].rsplit("####", 1)[-1].strip() for r in rows}

    def script(request: GenerationRequest, index: int) -> str:
        text = request_text(request)
        if "<paragraph_0>" in text:  # the preset's ProcessBench critique: wrong answers fail last
            n = len(set(re.findall(r"<paragraph_(\d+)>", text))) or 1
            wrong = any(q in text for k, (q, _) in enumerate(golds.items()) if k % 2)
            lines = "".join(f"Paragraph {i}: checked.\n" for i in range(n))
            return lines + f"\\boxed{{{n - 1 if wrong else -1}}}"
        if '"verdict"' in text:
            n = len(set(re.findall(r"<step_(\d+)>", text))) or 1
            steps = [{"step": i + 1, "verdict": "correct", "rationale": "ok"} for i in range(n)]
            return json.dumps({"steps": steps, "first_error": None})
        items = list(golds.items())
        k = next((i for i, (q, _) in enumerate(items) if q in text), 0)
        gold = items[k][1]
        answer = gold if k % 2 == 0 else gold + "1"
        return f"First we read the numbers.\n\nThen we compute.\n\nThe answer is: {answer}"

    return ScriptedEngine(script, model_id="scripted-policy")


@pytest.fixture
def scripted_preset(tmp_path: Path):
    """The embedded preset with its engine pointed at the scripted policy server."""
    with start_server(scripted_policy()) as server:
        config = yaml.safe_load((PRESETS / "embedded.yaml").read_text())
        config["engines"]["default"] = {"backend": "openai", "model": "scripted-policy",
                                        "base_url": server.url, "max_retries": 1}
        path = tmp_path / "scripted.yaml"
        path.write_text(yaml.safe_dump(config))
        yield path


@pytest.mark.slow
def test_readme_cli_walkthrough(prefect_harness, run_cli, scripted_preset, tmp_path, monkeypatch):
    commands = readme_commands()
    assert commands[0].startswith("stepforge ingest") and len(commands) >= 10
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "samples").symlink_to(REPO / "data" / "samples")
    monkeypatch.chdir(work)
    monkeypatch.setenv("STEPFORGE_LAKE", str(work / "lake"))
    for name in ("ARGILLA_API_URL", "ARGILLA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "stepforge"
        argv = [str(scripted_preset) if a == "embedded" and argv[i - 1] == "--config" else a
                for i, a in enumerate(argv)][1:]
        status, out, err = run_cli(*argv)
        want, text = next((v for k, v in EXPECTED.items() if command.startswith(k)), (0, ""))
        assert status == want, f"{command}: exit {status}\n{out}\n{err}"
        assert (out + err).strip(), f"{command}: printed nothing"
        assert text in out + err, f"{command}: expected {text!r}\n{out}\n{err}"
        if command.startswith("stepforge export"):
            assert list((work / "out" / "prm-trl" / "data").glob("train-*.parquet"))
        if command.startswith("stepforge report"):  # no --out: the lake's own output folder
            assert not (work / "report.html").exists()
            verdicts = [health_verdict(work / "out" / "lake" / "report.html")]
        if command.startswith("stepforge run"):  # its export: written, or absent and why
            exported = (work / "out" / "lake" / "prm-trl").exists()
            assert exported or "export trl (consensus) not written: " in out, out
            # the summary, its report and the report written before say the same (issue #23)
            summary = next(line for line in out.splitlines() if line.startswith("label health: "))
            verdicts += [summary.removeprefix("label health: "),
                         health_verdict(work / "out" / "lake" / "report.html")]
            assert len(set(verdicts)) == 1, verdicts
            assert str(Path("out") / "lake" / "report.html") in out  # the path it prints is true
    assert (work / "out" / "lake" / "report.html").exists()


def health_verdict(report: Path) -> str:
    """The bold verdict of a report's label-health panel."""
    import html

    panel = report.read_text().split("<h2>Label health</h2>", 1)[1]
    return html.unescape(re.search(r"<p><b>(.*?)</b></p>", panel, re.S).group(1))


# -- the GPU config and the engine failures, walked on a machine without them -----------------

GPU_CONFIG = REPO / "configs" / "gpu-vllm.yaml"
VLLM_LINE = ('the vllm backend needs an NVIDIA GPU (nvidia-smi lists none) and vLLM (not '
             'installed): on a machine with an NVIDIA GPU run `make install` in this checkout')


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def files_under(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


@pytest.fixture
def bare_machine(monkeypatch, tmp_path):
    """This machine as the issue found it, whatever runs the test: no GPU, no vLLM, no Hub."""
    import engines.preflight as preflight

    real = preflight.installed
    monkeypatch.setattr(preflight, "gpu_names", lambda: [])
    monkeypatch.setattr(preflight, "installed", lambda m: False if m == "vllm" else real(m))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no cached copy of openai/gsm8k


@pytest.mark.parametrize("argv, expected", [
    (["run", "--config", str(GPU_CONFIG)],
     ["run.inputs[0]: the Hub dataset openai/gsm8k is not cached and the Hub is off",
      f"engines.default (vllm, Qwen/Qwen2.5-Math-7B-Instruct): {VLLM_LINE}",
      "engines.judge (openai, Qwen/Qwen2.5-72B-Instruct): no server answers at "
      "http://judge-host:8000/v1"]),
    (["run", "--config", str(GPU_CONFIG), "--stages", "generate"],  # only what generate needs
     [f"engines.default (vllm, Qwen/Qwen2.5-Math-7B-Instruct): {VLLM_LINE}"]),
    (["generate", "--engine-backend", "vllm", "--limit", "2"],
     [f"engines.default (vllm, embedded): {VLLM_LINE}"]),
    (["annotate", "--annotators", "judge", "--engine-backend", "openai", "--engine-base-url",
      "http://127.0.0.1:{port}/v1"],
     ["engines.default (openai, embedded): no server answers at http://127.0.0.1:{port}/v1"]),
])
def test_unmet_needs_fail_in_one_line_each_within_5s_writing_nothing(
        run_cli, bare_machine, tmp_path, monkeypatch, argv, expected):
    import time

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("STEPFORGE_LAKE", str(work / "lake"))
    command = argv[0]
    if command != "run":  # generate and annotate refuse a missing lake: give them one
        assert run_cli("ingest", str(REPO / "data/samples/gsm8k_model_solutions_50.jsonl"),
                       "--kind", "solutions")[0] == 0
    import pipelines.flows.run  # noqa: F401 - Prefect's import (seconds, once a process) is not timed

    port = free_port()
    argv = [a.format(port=port) for a in argv]
    before = files_under(tmp_path)
    started = time.monotonic()
    status, out, err = run_cli(*argv)
    elapsed = time.monotonic() - started
    lines = err.strip().splitlines()
    assert status == 2 and not out.strip(), (out, err)
    assert len(lines) == len(expected), err
    for line, want in zip(lines, expected):
        assert line.startswith(f"stepforge {command}: error: {want.format(port=port)}"), line
    assert "Traceback" not in err and "resume" not in err and "stepforge[gpu]" not in err
    if any("vllm" in want for want in expected):
        assert '`.venv/bin/pip install -e ".[gpu]"`' in err  # works from a source checkout
    assert elapsed < 5, f"{elapsed:.1f} s"
    assert files_under(tmp_path) == before  # no lake, no rows, no output folder


def test_readme_says_how_to_reach_the_command() -> None:
    """`stepforge` is in .venv/bin: the CLI section says to activate it or use the path."""
    cli = (REPO / "README.md").read_text().split("## CLI", 1)[1].split("```bash", 1)[0]
    assert "source .venv/bin/activate" in cli and ".venv/bin/stepforge" in cli
