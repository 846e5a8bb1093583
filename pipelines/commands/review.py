"""``stepforge review``: human review of disputed solutions in Argilla.

    stepforge review serve                 # a local Argilla (dev/tests); prints ARGILLA_API_URL/KEY
    stepforge review push                  # disputed solutions -> Argilla (a dataset per step count)
    stepforge review pull                  # reviewers' responses -> the lake's reviews table

Examples::

    stepforge review serve --fresh
    stepforge review push --limit 50 --dataset stepforge-disputed
    stepforge review pull

push and pull talk to $ARGILLA_API_URL with the key in $ARGILLA_API_KEY (``--api-key-env``
names another variable); options also come from the ``review:`` section of ``--config``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.config.project import DEFAULT_LAKE
from pipelines.flags import add_config_args, flags_for, load_project
from review.config import PullConfig, PushConfig


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("review", help="human review in Argilla (push, pull, serve)",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="review_action", metavar="ACTION", required=True)
    for name, model, handler, text, example in (
        ("push", PushConfig, run_push, "send disputed solutions to an Argilla dataset",
         "stepforge review push --limit 50 --strategy consensus"),
        ("pull", PullConfig, run_pull, "store reviewers' responses in the lake",
         "stepforge review pull && stepforge reconcile"),
    ):
        action = actions.add_parser(name, help=text, description=f"{text}\n\nExample::\n\n    "
                                    f"{example}", formatter_class=argparse.RawDescriptionHelpFormatter)
        action.add_argument("--config", help="YAML config file (its review: section)")
        action.add_argument("--lake", help=f"lake root (default: $STEPFORGE_LAKE or {DEFAULT_LAKE})")
        add_config_args(action, model)
        action.set_defaults(handler=handler, review_model=model)
    serve = actions.add_parser("serve", help="run a local Argilla server (development, tests)",
                               description="Install (when missing) and run argilla-server 2.8.0 "
                               "with SQLite, Redis and the stepforge search engine; Ctrl-C stops "
                               "it.\n\nExample::\n\n    stepforge review serve --fresh --port 6900",
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--port", type=int, default=6900, help="API and UI port (0: any free port)")
    serve.add_argument("--data-dir", default=".argilla/data", help="database and logs folder")
    serve.add_argument("--fresh", action="store_true", help="start from an empty database")
    serve.add_argument("--no-worker", action="store_true", help="do not run the background worker")
    serve.add_argument("--install-only", action="store_true",
                       help="install the server venv and redis, then exit (for CI)")
    serve.set_defaults(handler=run_serve)


def _config(args: argparse.Namespace):
    from pipelines.config.lake_check import existing_lake

    model = args.review_model
    project = load_project(args, "review", flags_for(args, model))
    config = project.review.push if model is PushConfig else project.review.pull
    return config, existing_lake(project.lake)


def run_push(args: argparse.Namespace) -> int:
    from review.client import ReviewError
    from review.push import push

    config, lake = _config(args)
    try:
        summary = push(config, lake)
    except ReviewError as exc:
        print(f"stepforge review push: error: {exc}", file=sys.stderr)
        return 1
    if not summary.candidates:
        print("review push: no disputed solutions in the lake (run reconcile first)")
        return 0
    where = ", ".join(f"{n} to {name}" + (" (created)" if name in summary.created else "")
                      for name, n in summary.per_dataset.items())
    print(f"review push: {summary.pushed} records pushed" + (f" ({where})" if where else "")
          + f"; {summary.candidates} disputed, {summary.already_in_dataset} already in the "
          f"{config.dataset} datasets, {len(summary.too_long)} longer than --max-steps "
          f"{config.max_steps}, {len(summary.missing)} missing from solutions")
    if summary.suggestions_removed:
        print(f"removed the suggestions (they pre-fill the reviewer's form) of {summary.suggestions_removed} "
              "records nobody has answered")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    from review.client import ReviewError
    from review.pull import pull

    config, lake = _config(args)
    try:
        summary = pull(config, lake)
    except ReviewError as exc:
        print(f"stepforge review pull: error: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.responses.items())) or "no responses"
    print(f"review pull: {summary.records} records in {summary.dataset} ({len(summary.datasets)} "
          f"datasets: {', '.join(summary.datasets)}): {counts}; {summary.added} new rows in reviews")
    print(f"agreement on the first wrong step: {summary.agreement.describe()}")
    if summary.inconsistent:
        print(f"{len(summary.inconsistent)} responses tick wrong steps that contradict their first "
              f"error (stored without step labels): {', '.join(summary.inconsistent[:5])}")
    if summary.prefilled:
        print(f"{len(summary.prefilled)} responses hold answers equal to their record's suggestion "
              "(Argilla pre-fills the form with it): not stored as the reviewer's: "
              f"{', '.join(summary.prefilled[:5])}")
    if summary.invalid:
        print(f"stepforge review pull: error: {len(summary.invalid)} answers rejected, not stored "
              "(the other answers were):", file=sys.stderr)
        for message in summary.invalid:
            print(f"  {message}", file=sys.stderr)
        return 1
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from review.client import ReviewError
    from review.server.local import LocalArgilla, install, installed

    if args.install_only:
        if not installed():
            install()
        print("local Argilla server installed")
        return 0
    server = LocalArgilla(data_dir=Path(args.data_dir).resolve(), port=args.port,
                          fresh=args.fresh, worker=not args.no_worker)
    try:
        server.start()
    except ReviewError as exc:
        print(f"stepforge review serve: error: {exc}", file=sys.stderr)
        return 1
    print(f"Argilla {server.api_url} ready in {server.startup_seconds:.1f}s "
          f"(UI login {server.username} / {server.password}; logs in {server.data_dir})")
    for key, value in server.env().items():
        print(f"export {key}={value}")
    sys.stdout.flush()
    return server.wait()
