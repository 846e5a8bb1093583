"""Writing the export folder: byte-identical re-exports, the card, loading with `datasets`, and
TRL's PRMTrainer tokenization accepting the trl set."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest
import yaml

from export import ExportConfig, WriteConfig, run_export
from export.write import FolderError


def export(lake, out: Path, **options):
    write = {k: options.pop(k) for k in list(options) if k in WriteConfig.model_fields}
    return run_export(lake, ExportConfig(**{"test_fraction": 0.5, **options}),
                      WriteConfig(out=str(out), **write))


def front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.mark.parametrize("fmt", ["trl", "math-shepherd", "processbench", "jsonl"])
def test_same_lake_and_options_give_identical_bytes(labelled_lake, tmp_path, fmt):
    lake, _, _ = labelled_lake
    first = export(lake, tmp_path / "a", format=fmt)
    second = export(lake, tmp_path / "b", format=fmt)
    assert first.written.files == second.written.files
    ext = "jsonl" if fmt == "jsonl" else "parquet"
    assert f"data/train-00000-of-00001.{ext}" in first.written.files
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b",
                                               first.written.files, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(first.written.files)


def test_shards_and_overwrite(labelled_lake, tmp_path):
    lake, _, _ = labelled_lake
    out = tmp_path / "out"
    result = export(lake, out, shard_rows=1, test_fraction=0.0)
    assert result.written.files[:-1] == [f"data/train-{i:05d}-of-00004.parquet" for i in range(4)]
    with pytest.raises(FolderError, match="--overwrite"):
        export(lake, out)
    export(lake, out, overwrite=True, test_fraction=0.0)  # fewer shards: stale ones removed
    assert sorted(p.name for p in (out / "data").iterdir()) == ["train-00000-of-00001.parquet"]
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FolderError, match="notes.txt"):
        export(lake, out, overwrite=True)
    assert (out / "notes.txt").exists()


def test_card_reports_counts_balance_annotators_and_licence(labelled_lake, tmp_path):
    lake, _, _ = labelled_lake
    result = export(lake, tmp_path / "out", test_fraction=0.0)
    card_path = tmp_path / "out" / "README.md"
    meta = front_matter(card_path)
    assert meta["license"] == "mit"  # gsm8k source
    assert "dataset_info" not in meta  # without num_bytes datasets warns; the Hub fills it in
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*.parquet"}]
    text = card_path.read_text(encoding="utf-8")
    # 4 examples: s0 (1,1), s1 (1,0), s4 human (1,1), s5 (1,1,0) -> 7 positive, 2 negative steps
    assert "| train | 4 | 9 | 7 | 2 | 0.2222 | 2 | 2 |" in text
    assert "| judge | 1 |  | c | 9 | 9 | 180 | 0 |" in text
    assert "| mc-binary | 1 |  | c | 9 | 9 | 900 | 0 |" in text
    assert "soft_labels" in text and "int()" in text
    assert "strategy: consensus" in text and "Qwen" in text
    assert result.selection.total == 4
    other = export(lake, tmp_path / "ms", format="math-shepherd", license="cc-by-4.0")
    ms_card = (tmp_path / "ms" / "README.md").read_text(encoding="utf-8")
    assert front_matter(tmp_path / "ms" / "README.md")["license"] == "cc-by-4.0"
    assert "`ки`" in ms_card and 'tokenizer.encode(" ки"' in ms_card
    assert other.written.rows


def test_trl_set_loads_and_tokenizes_with_prm_trainer(labelled_lake, tmp_path):
    datasets = pytest.importorskip("datasets")
    prm = pytest.importorskip("trl.experimental.prm", reason="TRL <= 1.13 has the PRM trainer")
    lake, _, _ = labelled_lake
    export(lake, tmp_path / "out", test_fraction=0.0)
    data = datasets.load_dataset("parquet", data_files={
        "train": str(tmp_path / "out" / "data" / "train-*.parquet")})["train"]
    assert data.num_rows == 4 and data.features["labels"].feature.dtype == "bool"
    local = datasets.load_dataset(str(tmp_path / "out"))  # the card's configs find the split
    assert local["train"].num_rows == 4
    tokenizer = offline_tokenizer([r["prompt"] for r in data] + [s for r in data for s in r["completions"]])
    for row in data:
        out = prm.PRMTrainer.tokenize_row(row, tokenizer, "\n", None, None, False, False)
        marked = [x for x in out["labels"] if x != -100]
        assert marked == [int(x) for x in row["labels"]]
        assert len(out["input_ids"]) > len(row["completions"])


def offline_tokenizer(corpus: list[str]):
    """A small BPE tokenizer trained here (no download), wrapped for transformers."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(corpus + ["\n"], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", unk_token="<unk>")


@pytest.mark.slow
def test_trl_tokenization_with_the_embedded_smollm2_tokenizer(labelled_lake, tmp_path):
    datasets = pytest.importorskip("datasets")
    prm = pytest.importorskip("trl.experimental.prm", reason="TRL <= 1.13 has the PRM trainer")
    from transformers import AutoTokenizer

    from engines.embedded import embedded_gguf_path

    gguf = embedded_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    lake, _, _ = labelled_lake
    export(lake, tmp_path / "out", test_fraction=0.0)
    data = datasets.load_dataset("parquet", data_files=str(tmp_path / "out/data/*.parquet"))["train"]
    for row in data:
        out = prm.PRMTrainer.tokenize_row(row, tokenizer, "\n", None, None, False, False)
        assert [x for x in out["labels"] if x != -100] == [int(x) for x in row["labels"]]
        assert out["input_ids"][0] == tokenizer.bos_token_id


def test_scratch_settings_change_nothing_written_and_leave_nothing(labelled_lake, tmp_path):
    """memory_limit / temp_directory say where the export runs: same bytes, not in the card,
    and the scratch folder is removed when the export ends (a killed export's by the next)."""
    import subprocess
    import sys

    lake, _, _ = labelled_lake
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (scratch / f"stepforge-export-{dead}-killed" / "spill").mkdir(parents=True)  # a killed export's
    default = export(lake, tmp_path / "a")
    tuned = export(lake, tmp_path / "b", memory_limit="1GB", temp_directory=str(scratch))
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b",
                                               default.written.files, shallow=False)
    assert len(match) == len(tuned.written.files) and not mismatch and not errors
    assert "memory_limit" not in (tmp_path / "b" / "README.md").read_text(encoding="utf-8")
    assert list(scratch.iterdir()) == []
