"""Every section of a config file is checked when it loads: an unknown key anywhere fails in one
line naming the file, the section and the key, before any engine is built or any row ingested."""

from __future__ import annotations

import contextlib
import io

import pytest

from annotators.registry import REGISTRY, engine_roles, validate_settings
from pipelines import cli
from pipelines.tasks.annotate import AnnotateConfig
from pipelines.config.files import load_config
from schemas import RecordError


@pytest.fixture
def no_engines(monkeypatch):
    """Any engine built or file ingested fails the test: config errors must come first."""
    def forbidden(*_args, **_kwargs):
        raise AssertionError("work started before the config was checked")

    # import the modules that bind build_engine at import time first: a module first imported
    # while the patch is on would keep the forbidden function after the test
    import pipelines.tasks.annotate
    import pipelines.flows.generate  # noqa: F401

    monkeypatch.setattr("engines.factory.build_engine", forbidden)
    monkeypatch.setattr("pipelines.tasks.annotate.build_engine", forbidden)
    monkeypatch.setattr("pipelines.flows.generate.build_engine", forbidden)
    monkeypatch.setattr("pipelines.commands.ingest.ingest", forbidden)


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    return code, err.getvalue()


CASES = {
    "ingest": ("ingest:\n  kindd: solutions\n", "ingest.kindd"),
    "generate": ("generate:\n  sampels: 4\n", "generate.sampels"),
    "annotate": ("annotate:\n  batch_solution: 4\n", "annotate.batch_solution"),
    "reconcile": ("reconcile:\n  strategy: [majority]\n", "reconcile.strategy"),
    "review": ("review:\n  dataset: d\n  limt: 3\n", "review.limt"),
    "export": ("export:\n  formt: trl\n", "export.formt"),
    "run": ("run:\n  stagse: [ingest]\n", "run.stagse"),
    "run-input": ("run:\n  inputs: [{path: a.jsonl, kindd: solutions}]\n", "run.inputs.0.kindd"),
    "schedules": ("schedules:\n  nightly: {cron: '0 3 * * *', flw: run}\n", "schedules.nightly.flw"),
    "eval": ("eval:\n  annotatorz: [judge]\n", "eval.annotatorz"),
    "engines": ("engines:\n  default: {bakend: openai}\n", "engines.default.bakend"),
    "top level": ("annotat:\n  annotators: [judge]\n", "annotat"),
}
for _name in REGISTRY:
    CASES[f"settings {_name}"] = (f"annotate:\n  settings: {{{_name}: {{engin: x}}}}\n",
                                  f"annotate.settings.{_name}.engin")
CASES["settings unknown annotator"] = ("annotate:\n  settings: {judgee: {}}\n",
                                       "annotate.settings.judgee")


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", [["annotate"], ["ingest", "nothing.jsonl"]])
def test_unknown_key_in_any_section_fails_at_load(case, command, tmp_path, no_engines) -> None:
    text, key = CASES[case]
    config = tmp_path / "c.yaml"
    config.write_text(text)
    code, err = run_cli([*command, "--config", str(config), "--lake", str(tmp_path / "lake")])
    assert code == 2
    assert f"{config}, field '{key}'" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "lake").exists()


def test_unknown_key_fails_run_before_prefect(tmp_path, no_engines) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("export:\n  formt: trl\n")
    code, err = run_cli(["run", "--config", str(config), "--lake", str(tmp_path / "lake")])
    assert code == 2 and "field 'export.formt'" in err


def test_invalid_yaml_is_one_line_with_file_and_line(tmp_path, no_engines) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("annotate:\n  annotators: [judge\n  limit: 3\n")
    code, err = run_cli(["annotate", "--config", str(config)])
    assert code == 2 and f"{config}:" in err and "invalid YAML" in err
    assert len(err.strip().splitlines()) == 1


def test_folder_as_config_is_one_line(tmp_path, no_engines) -> None:
    code, err = run_cli(["ingest", "x.jsonl", "--config", str(tmp_path)])
    assert code == 2 and f"{tmp_path}: is a folder" in err
    assert len(err.strip().splitlines()) == 1


def test_non_utf8_config_is_one_line(tmp_path, no_engines) -> None:
    config = tmp_path / "latin.yaml"
    config.write_bytes("annotate: {generator: caf\xe9}\n".encode("latin-1"))
    code, err = run_cli(["annotate", "--config", str(config)])
    assert code == 2 and "not UTF-8" in err and str(config) in err


def test_settings_value_checked_before_any_engine(tmp_path, no_engines) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("annotate:\n  settings: {mc-binary: {k: 0}}\n")
    code, err = run_cli(["annotate", "--config", str(config), "--lake", str(tmp_path / "lake")])
    assert code == 2 and "field 'settings.mc-binary.k'" in err


def test_settings_flag_takes_yaml_flow_syntax(tmp_path, no_engines) -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["annotate", "--settings", "{mc-hard: {k: 4}, judge: {style: think}}"])
    assert args.settings == {"mc-hard": {"k": 4}, "judge": {"style": "think"}}
    args = parser.parse_args(["annotate", "--settings", '{"mc-hard": {"k": 4}}'])  # JSON still
    assert args.settings == {"mc-hard": {"k": 4}}
    code, err = run_cli(["annotate", "--settings", "{mc-hard: {kk: 4}}",
                         "--lake", str(tmp_path / "lake")])
    assert code == 2 and "field 'settings.mc-hard.kk': unknown key" in err


def test_engine_roles_are_typed_fields() -> None:
    assert engine_roles(validate_settings("mc-progress", {"prover_engine": "big"})) == \
        {"default", "big"}
    assert engine_roles(validate_settings("judge", {"engine": "judge"})) == {"judge"}
    # a role that `engines:` does not define is named with the annotator
    config = AnnotateConfig(annotators=["spark"], settings={"spark": {"engine": "critic"}})
    with pytest.raises(RecordError, match=r"settings.spark.*\['critic'\]"):
        config.engines_used("spark", {"default": object()})


def test_annotate_config_validates_settings_at_load() -> None:
    with pytest.raises(RecordError, match=r"annotate, field 'settings.judge.style'"):
        load_config(AnnotateConfig, {"settings": {"judge": {"style": "loud"}}}, {}, "annotate")
    config = load_config(AnnotateConfig, {"settings": {"judge": {"retries": 1}}}, {}, "annotate")
    judge = config.settings["judge"]  # typed once, at load, and kept
    assert judge.retries == 1 and config.typed_settings("judge") is judge
    # what the builder gets (its dump) types to the same config: the votes' hashes are unchanged
    from annotators.base import config_hash

    assert config_hash(validate_settings("judge", judge.model_dump())) == \
        config_hash(validate_settings("judge", {"retries": 1}))


def test_value_errors_name_the_file_or_the_command_line(tmp_path, no_engines) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("annotate:\n  batch_solutions: 0\n")
    lake = str(tmp_path / "lake")
    code, err = run_cli(["annotate", "--config", str(config), "--lake", lake])
    assert code == 2 and f"{config}: annotate, field 'batch_solutions'" in err
    code, err = run_cli(["annotate", "--config", str(config), "--lake", lake, "--batch-solutions", "2",
                         "--parallel", "0"])
    assert code == 2 and "command line: annotate, field 'parallel'" in err
    code, err = run_cli(["run", "--config", str(config), "--lake", lake])
    assert code == 2 and f"{config}: annotate, field 'batch_solutions'" in err
