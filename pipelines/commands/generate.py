"""``stepforge generate``: sample, split, grade and store solutions for the lake's problems.

Examples::

    stepforge generate --samples 4 --limit 20            # 4 solutions for 20 problems (embedded model)
    stepforge generate --engine-backend vllm --engine-model Qwen/Qwen2.5-Math-7B-Instruct
    stepforge generate --config configs/gpu-vllm.yaml

Problems that already have solutions from this generator and config are skipped.
"""

from __future__ import annotations

import argparse

from pipelines.flags import add_common_args, add_config_args, flags_for, load_project
from pipelines.tasks.generate import GenerateConfig


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("generate", help="generate solutions with an LLM (Prefect flow)",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    add_config_args(parser, GenerateConfig)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    project = load_project(args, "generate", flags_for(args, GenerateConfig))
    config = project.generate
    engine_config = project.engine(config.engine)

    from engines.preflight import check_engines
    from pipelines.config.lake_check import existing_lake

    existing_lake(project.lake)
    check_engines({config.engine: engine_config})  # in seconds, before Prefect or a model

    from pipelines.flows.generate import generate_flow  # Prefect import is slow: only when used
    from pipelines.commands._failure import USER_ERRORS, quiet_tracebacks, report_failure
    from pipelines.runtime.progress import set_quiet

    set_quiet(args.quiet)
    quiet_tracebacks(getattr(args, "verbose", False))
    try:
        summary = generate_flow(config, engine_config, project.lake)
    except USER_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - a batch failed after its retries: one line
        return report_failure("generate", exc)
    print(f"generate: {summary.problems} problems sampled ({summary.skipped} already done), "
          f"{summary.solutions_added} solutions added, {summary.correct} correct, "
          f"{summary.prompt_tokens} prompt + {summary.completion_tokens} completion tokens")
    print(f"query them: stepforge sql --lake {project.lake} "
          '"select count(*), avg(is_correct::int) from solutions"')
    return 0
