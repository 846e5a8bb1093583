"""``stepforge run``: the whole pipeline in one Prefect flow, ingest -> generate -> annotate ->
reconcile -> review push -> export -> report, then a summary.

With no argument it runs the embedded default (preset ``embedded``: SmolLM2-135M on CPU over the
bundled GSM8K sample, a few minutes on 2 cores). The same config with the engine switched to
vLLM and a Hub model (configs/gpu-vllm.yaml) is the GPU production run. Re-running skips finished
work; after a crash it finishes what is missing.

Examples::

    stepforge run                                        # the embedded default, a few minutes on CPU
    stepforge run --stages reconcile,export,report       # only these stages, on the existing lake
    stepforge run --config configs/gpu-vllm.yaml --lake runs/gpu
"""

from __future__ import annotations

import argparse

from pipelines.config.run import RunConfig
from pipelines.flags import add_config_args, add_lock_timeout_arg, add_switch, flags_for


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="the whole pipeline end to end (Prefect flow)",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="embedded",
                        help="YAML config file or bundled preset (default: embedded)")
    parser.add_argument("--lake", help="lake root (default: the config's, $STEPFORGE_LAKE or "
                        "data/lake); a folder or s3:// URI")
    add_config_args(parser, RunConfig)
    add_lock_timeout_arg(parser)
    add_switch(parser, "--quiet", "quiet", default=False, help="no progress bars (they are also "
               "off when stderr is not a terminal or $CI is set)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.config.needs import check_needs, run_needs
    from pipelines.config.run_stages import load_configs

    overrides = {"run": flags_for(args, RunConfig)}
    configs = load_configs(args.config, args.lake, overrides)  # a config error fails first
    check_needs(run_needs(configs))  # a GPU, vLLM, servers, the Hub: in seconds, before work

    from pipelines.commands._failure import USER_ERRORS, quiet_tracebacks, report_failure
    from pipelines.flows.run import run_loaded  # Prefect import is slow: only when needed
    from pipelines.runtime.progress import set_quiet
    from report.run_summary import render
    from store.lake import Lake
    from store.lock import lake_lock

    set_quiet(args.quiet)
    quiet_tracebacks(getattr(args, "verbose", False))
    try:
        # the configs loaded above and the lock taken here are the run's: nothing loads or
        # locks twice
        with lake_lock(Lake(configs.lake), "run", args.lock_timeout) as lock:
            summary = run_loaded(configs, lock)
    except USER_ERRORS:
        raise
    except Exception as exc:  # a stage failed after its retries: say which, keep what is stored
        return report_failure("run", exc)
    print(render(summary))
    return 0
