"""A format defined and registered by this test module alone (no file of export/ names it) is
accepted by ExportConfig and the CLI, writes its rows and card, and loads back with `datasets`:
what a new export format takes is its class (one module) and its tests."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from export.config import ExportConfig, format_names, register_format, unregister_format
from export.formats.base import ExportFormat
from pipelines.cli import main


class Toy(ExportFormat):
    name = "toy"
    summary = "the problem and how many of its steps are correct"
    text = "Toy rows: `problem` and `correct_steps`, the number of exported steps labelled correct."

    def columns(self) -> list[str]:
        return ["question AS problem", "len(list_filter(labels, lambda x: x = 1)) AS correct_steps"]

    def features(self):
        import datasets

        return datasets.Features({"problem": datasets.Value("string"),
                                  "correct_steps": datasets.Value("int64")})


@pytest.fixture
def toy():
    register_format(Toy)
    yield Toy
    unregister_format(Toy.name)


def test_a_registered_format_is_a_valid_choice_until_unregistered(toy, capsys):
    assert format_names()[-1] == "toy" and ExportConfig(format="toy").format == "toy"
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "{trl,math-shepherd,processbench,jsonl,verifier-sft,toy}" in help_text
    assert "toy (the problem and how many of its steps are correct)" in help_text
    with pytest.raises(ValueError, match="already registered"):
        register_format(type("Other", (Toy,), {}))
    unregister_format("toy")
    with pytest.raises(ValidationError, match="Input should be 'trl', .* or 'verifier-sft'"):
        ExportConfig(format="toy")


def test_the_toy_format_exports_from_the_cli_and_loads_back(toy, labelled_lake, tmp_path, capsys):
    datasets = pytest.importorskip("datasets")
    lake, _, _ = labelled_lake
    out = tmp_path / "toy"
    assert main(["export", "--lake", str(lake.root), "--format", "toy", "--test-fraction", "0",
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("export toy (consensus): train 4 ->")
    card = (out / "README.md").read_text(encoding="utf-8")
    assert Toy.text in card and "`stepforge export --format toy`" in card
    assert "pretty_name: stepforge toy PRM set (consensus)" in card
    rows = datasets.load_dataset(str(out))["train"]
    assert rows.features == Toy(ExportConfig()).features()
    # s0 all correct, s1 cut at its error, s4 reviewed all correct, s5 cut at its error (s2 is
    # disputed, s0's duplicate exported once)
    assert sorted((r["problem"], r["correct_steps"]) for r in rows) == [
        ("What is 0 + 0?", 2), ("What is 1 + 1?", 1), ("What is 4 + 4?", 2), ("What is 5 + 5?", 2)]
