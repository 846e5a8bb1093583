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
from pipelines.config import PRESETS

REPO = Path(__file__).resolve().parents[2]

# what the README implies beyond "exits 0 and prints something": (exit status, text expected)
EXPECTED = {
    "stepforge review push": (1, "Argilla"),  # "needs Argilla": no server in this test
}


def readme_commands() -> list[str]:
    """The commands of the README's CLI block, comments dropped, ``a && b`` split."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"## CLI\n\n```bash\n(.*?)```", text, re.S).group(1)
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
        if command.startswith("stepforge report"):
            verdicts = [health_verdict(work / "out" / "report.html")]
        if command.startswith("stepforge run"):  # its export: written, or absent and why
            exported = (work / "out" / "prm-trl").exists()
            assert exported or "export trl (consensus) not written: " in out, out
            # the summary, its report and the report written before say the same (issue #23)
            summary = next(line for line in out.splitlines() if line.startswith("label health: "))
            verdicts += [summary.removeprefix("label health: "),
                         health_verdict(work / "out" / "report.html")]
            assert len(set(verdicts)) == 1, verdicts
    assert (work / "out" / "report.html").exists()


def health_verdict(report: Path) -> str:
    """The bold verdict of a report's label-health panel."""
    import html

    panel = report.read_text().split("<h2>Label health</h2>", 1)[1]
    return html.unescape(re.search(r"<p><b>(.*?)</b></p>", panel, re.S).group(1))
