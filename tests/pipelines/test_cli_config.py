"""Config files and flags: one definition per option, errors that name the field."""

from __future__ import annotations

import argparse

import pytest

from pipelines.tasks.annotate import AnnotateConfig
from pipelines.config.files import load_config
from pipelines.tasks.generate import GenerateConfig
from pipelines.flags import add_common_args, add_config_args, flags_for, load_project
from schemas import RecordError


def parse(model, argv):
    parser = argparse.ArgumentParser()
    add_common_args(parser)
    add_config_args(parser, model)
    return parser.parse_args(argv)


def test_flags_override_yaml(tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("generate: {samples: 3, temperature: 0.5}\nengines: {default: {batch_size: 4}}\n")
    args = parse(GenerateConfig, ["--config", str(cfg), "--samples", "5", "--engine-batch-size", "2"])
    project = load_project(args, "generate")
    config = load_config(GenerateConfig, project.generate, flags_for(args, GenerateConfig), "generate")
    assert (config.samples, config.temperature) == (5, 0.5)
    assert project.engines["default"].batch_size == 2


def test_comma_separated_annotators_and_unknown_name() -> None:
    args = parse(AnnotateConfig, ["--annotators", "mc-binary,judge"])
    assert flags_for(args, AnnotateConfig)["annotators"] == ["mc-binary", "judge"]
    with pytest.raises(RecordError, match="field 'annotators'"):
        load_config(AnnotateConfig, {}, {"annotators": ["nope"]}, "annotate")


def test_bad_value_names_the_config_and_field(tmp_path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("generate: {samples: 0}\n")
    args = parse(GenerateConfig, ["--config", str(cfg)])
    with pytest.raises(RecordError, match=r"bad.yaml: generate, field 'samples'"):
        load_project(args, "generate")  # every section is typed when the file loads


def test_unknown_engine_role_is_named() -> None:
    project = load_project(parse(GenerateConfig, []))
    with pytest.raises(RecordError, match="engines.judge"):
        project.engine("judge")
