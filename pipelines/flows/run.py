"""The end-to-end Prefect flow behind ``stepforge run``: ingest -> generate -> annotate ->
reconcile -> review push -> export -> report, each stage a subflow or task with retries and a
timeout.

Re-running skips finished work: every stage keys its work on content-derived ids plus the
fingerprint of its config, and looks them up in the lake (a problem with solutions from this
generator and config, a solution with votes from this annotator version and config, consensus
rows with these inputs). The lake is the result cache, so it survives a crash: a batch written
before ``kill -9`` is never redone, one in flight when it landed is redone whole.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from engines.config import EngineConfig
from ingest.records import IngestConfig, ingest
from pipelines.config.needs import check_needs, run_needs
from pipelines.config.project import ProjectConfig
from pipelines.config.run import InputSpec, RunConfig
from pipelines.config.run_stages import load_configs
from pipelines.config.sections import ExportSection
from pipelines.flows.annotate import annotate_flow
from pipelines.flows.generate import generate_flow
from pipelines.tasks.annotate import annotator_stages, require_claims, skipped_lines
from reconcile import ReconcileConfig
from report.run_summary import RunSummary, lake_overview
from review.config import PushConfig
from store.lake import Lake
from store.lock import HeldLock, lake_lock


# -- stage tasks ------------------------------------------------------------------------------

@task(name="ingest", cache_policy=NONE)
def ingest_stage(inputs: list[InputSpec], lake_root: str) -> list[str]:
    """Ingest every input (idempotent: ids already stored are skipped); one line per input."""
    lines = []
    for spec in inputs:
        config = IngestConfig.model_validate(spec.model_dump(exclude={"path"}))
        ingested, written = ingest(spec.resolved(), config, Lake(lake_root))
        added = ", ".join(f"{n} {t}" for t, n in written.added.items()) or "nothing"
        dropped = f", dropped {len(ingested.dropped)} rows" if ingested.dropped else ""
        lines.append(f"{spec.path}: {ingested.rows} rows, added {added}{dropped}")
    return lines


@task(name="reconcile", cache_policy=NONE)
def reconcile_stage(config: ReconcileConfig, lake_root: str) -> str:
    from reconcile import describe, reconcile

    return describe(reconcile(Lake(lake_root), config))


@task(name="review-push", cache_policy=NONE)
def review_stage(config: PushConfig, lake_root: str) -> str:
    from review.push import push

    summary = push(config, Lake(lake_root))
    return (f"{summary.pushed} disputed solutions pushed to Argilla dataset {config.dataset} "
            f"({summary.candidates} disputed, {summary.already_in_dataset} already there)")


# log_prints off: datasets fingerprints the shards by pickling them with dill, which prints a
# bytecode disassembly into a captured stdout that Prefect's print patch would log line by line
@task(name="export", cache_policy=NONE, log_prints=False)
def export_stage(section: ExportSection, default_out: str | None,
                 lake_root: str) -> tuple[str, str, str]:
    """(what the export did, where it is, its information checks' outcome). ``section`` is the
    typed ``export:`` section (a section as written, a mapping, is typed here)."""
    from export import ExportEmpty, ExportRefused, describe, run_export
    from export.empty import why_empty
    from export.owner import run_marker, run_owns
    from export.write import resolved_out
    from pipelines.config.outputs import default_output
    from reconcile import KINDS

    # the run owns the export folders it wrote (a marker file says so): a re-run replaces its
    # own earlier export there, never one the user made with `stepforge export`
    section = ExportSection.model_validate(section)  # kept as it is when typed already
    config, write = section.select, section.run_write()
    lake = Lake(lake_root)
    if not write.out:
        out = (default_out.format(format=config.format) if default_out
               else str(default_output(lake, f"prm-{config.format}")))
        write = write.model_copy(update={"out": out})
    head = f"export {config.format} ({config.strategy}) not written"
    if not run_owns(resolved_out(Path(write.out)), lake_root):
        why = (f"{write.out} holds files this lake's runs did not write (an export made with "
               "`stepforge export`?); kept them: move them, or set export.out or "
               "run.export_out to another folder")
        return f"{head}: {why}", f"not written ({write.out})", f"{config.strategy} not written: {why}"
    try:
        result = run_export(lake, config, write, allow_empty=False, marker=run_marker(lake_root))
    except ExportEmpty as empty:  # no empty set on disk: absent, the reason in the summary
        removed = _remove_own_export(write.out)
        why = "; ".join(line.strip() for line in why_empty(lake, config, empty.selection, KINDS))
        return (f"{head}: nothing to export: {why}{removed}", f"not written ({write.out})",
                f"{config.strategy} no labels selected")
    except ExportRefused as refused:
        removed = _remove_own_export(write.out)
        why = "; ".join(refused.failures)
        return (f"{head}: {why} (export.force: true writes it anyway){removed}",
                f"not written ({write.out})", f"{config.strategy} refused: {why}")
    checks = result.checks.line() if result.checks else "not checked"
    return describe(result, config, lake), str(result.written.out), f"{config.strategy} {checks}"


def _remove_own_export(out: str | None) -> str:
    """Remove this run's earlier export at ``out`` (checked as the run's by ``run_owns``
    before the export), so a refused export leaves no stale set behind; returns a note for
    the summary."""
    import shutil

    from export.write import resolved_out

    folder = resolved_out(Path(out)) if out else None
    if folder is None or not (folder / "README.md").is_file():
        return ""
    shutil.rmtree(folder)
    return f"; removed the earlier export at {out}"


@task(name="report", cache_policy=NONE)
def report_stage(lake_root: str, out: str | None, export: Any = None) -> tuple[str, str]:
    """Write the report (``out``, else report.html in the lake's output folder); returns its
    path and its label-health block, which the summary prints (judged once: ``export``'s
    labels, the same verdict and reasons in both)."""
    from report.label_health import health_text
    from pipelines.config.outputs import default_output
    from report.page import gather, save

    lake = Lake(lake_root)
    data = gather(lake, export=export)
    return str(save(data, out or default_output(lake, "report.html"))), health_text(data.health)


# -- the flow ---------------------------------------------------------------------------------

def run_health(lake: Lake, export: Any = None) -> str:
    """The summary's label-health block: the verdict on the labels ``export`` (the run's
    ExportConfig) would ship and its reasons, as the report prints them."""
    from report.bounded import bounded
    from report.label_health import assess, health_text

    with bounded(lake) as limited:
        return health_text(assess(limited, export))


def review_enabled(run: RunConfig) -> tuple[bool, str]:
    """Whether the review stage pushes, and why not when it does not."""
    if run.review == "never":
        return False, "off (run.review: never)"
    if run.review == "auto" and not os.environ.get("ARGILLA_API_URL"):
        return False, "skipped: ARGILLA_API_URL is not set (run.review: auto)"
    return True, ""


def needs_gpu(engines: dict[str, EngineConfig]) -> bool:
    return any(e.backend == "vllm" or e.device.startswith("cuda") for e in engines.values())


def gpus_per_task(c: ProjectConfig) -> float:
    """GPUs one Ray annotation task reserves: the configured value, else 1 when any
    annotator's engine runs on a GPU (one engine pinned per GPU), else 0."""
    if c.run.gpus_per_task is not None:
        return c.run.gpus_per_task
    used = {}
    for name in c.annotate.annotators:
        used |= c.annotate.engines_used(name, c.engines)
    return 1.0 if needs_gpu(used) else 0.0


@contextlib.contextmanager
def gpu_slot(name: str | None) -> Iterator[None]:
    """Hold one slot of the Prefect global concurrency limit ``name`` (none: no limit)."""
    if not name:
        yield
        return
    from prefect.concurrency.sync import concurrency

    with concurrency(name, occupy=1):
        yield


def task_runner_for(c: ProjectConfig) -> Any:
    """The annotate flow's task runner: its own thread pool, or prefect-ray's RayTaskRunner."""
    if c.run.task_runner != "ray":
        return None
    try:
        from prefect_ray import RayTaskRunner
    except ImportError as exc:
        raise RuntimeError("run.task_runner: ray needs prefect-ray: `make install` in this "
                           "checkout or `.venv/bin/pip install -e \".[ray]\"`") from exc
    return RayTaskRunner(address=c.run.ray_address)


def _timed(fn: Any, c: ProjectConfig) -> Any:
    return fn.with_options(retries=c.run.retries, timeout_seconds=c.run.stage_timeout)


@flow(name="stepforge-run", log_prints=True)
def run_pipeline(config: str | None = None, lake: str | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None) -> RunSummary:
    """Run the configured stages in order over the lake; returns what each did and the lake's
    overview. ``config`` is a config file or preset name (what deployments store, so a
    scheduled run reads the file as it is then); ``overrides`` replace keys of its sections.
    The entry point of scheduled runs: it loads the config and takes the lake lock itself."""
    c = load_configs(config, lake, overrides)
    check_needs(run_needs(c))  # a scheduled run too fails in one line on an unmet need
    with lake_lock(Lake(c.lake), "run") as lock:  # one writer per lake
        return _run_stages(c, lock)


@flow(name="stepforge-run", log_prints=True, validate_parameters=False)
def run_loaded(configs: ProjectConfig, lock: HeldLock) -> RunSummary:
    """``run_pipeline`` for a caller that loaded the configs and holds the lake lock (the
    ``stepforge run`` command): nothing is loaded or locked a second time."""
    if not lock.held():
        raise RuntimeError(f"stepforge run: the lake lock {lock.path} is not held")
    return _run_stages(configs, lock)


def _run_stages(c: ProjectConfig, lock: HeldLock) -> RunSummary:
    logger = get_run_logger()
    root = Lake(c.lake).uri
    summary = RunSummary(lake=root)
    todo = c.run.stages
    judged = c.export.select  # the labels label health judges (summary and report alike)
    if "annotate" in todo:  # mc-verify without its judge's votes fails before any stage runs
        require_claims(Lake(root), c.annotate)
    if "ingest" in todo:
        summary.stages["ingest"] = "; ".join(_timed(ingest_stage, c)(c.run.inputs, root))
    with gpu_slot(c.run.gpu_slot):
        if "generate" in todo:
            engine = c.engine(c.generate.engine)
            g = generate_flow.with_options(timeout_seconds=c.run.stage_timeout)(
                c.generate, engine, root)
            summary.stages["generate"] = (
                f"{g.problems} problems sampled ({g.skipped} already done), {g.solutions_added} "
                f"solutions added, {g.correct} correct")
        if "annotate" in todo:
            runner = task_runner_for(c)
            annotate = annotate_flow.with_options(timeout_seconds=c.run.stage_timeout,
                                                  **({"task_runner": runner} if runner else {}))
            since = datetime.now(timezone.utc)
            totals = annotate(c.annotate, c.engines, root,
                              gpus_per_task=gpus_per_task(c) if runner else 0.0, lock=lock)
            order = "".join(f"{note}; " for note in annotator_stages(c.annotate)[1])
            summary.stages["annotate"] = order + "; ".join(
                f"{name}: {t.votes_added} votes on {t.solutions} solutions ({t.unparsed} unparsed, "
                f"{t.skipped} skipped; {t.already_done} solutions already labelled, not redone)"
                for name, t in totals.items()) + "".join(
                f"\n  {name}: {line}" for name in totals
                for line in skipped_lines(Lake(root), name, 0, since))
    if "reconcile" in todo:
        summary.stages["reconcile"] = _timed(reconcile_stage, c)(c.reconcile, root)
    if "review" in todo:
        enabled, why = review_enabled(c.run)
        summary.stages["review"] = (_timed(review_stage, c)(c.review.push, root)
                                    if enabled else why)
    if "export" in todo:
        summary.stages["export"], summary.outputs["export"], _ = _timed(
            export_stage, c)(c.export, c.run.export_out, root)
    health = ""  # the report's label health when it ran (nothing writes the lake after it)
    if "report" in todo:
        summary.outputs["report"], health = _timed(report_stage, c)(root, c.run.report, judged)
        summary.stages["report"] = f"written to {summary.outputs['report']}"
    summary.overview = lake_overview(Lake(root))
    summary.health = health or run_health(Lake(root), judged)
    for stage, text in summary.stages.items():  # the headline: details are in the summary, once
        logger.info("%s: %s", stage, (text.splitlines() or [""])[0])
    return summary
