"""The ``run:`` section of a config file: what ``stepforge run`` chains, on which inputs, where
its outputs go and which executor spreads the annotation batches.

```yaml
run:
  inputs:
    - {path: data/samples/gsm8k_test_50.jsonl}                # problems (ingest options allowed)
    - {path: my_solutions.jsonl, kind: solutions}
  stages: [ingest, generate, annotate, reconcile, review, export, report]
  review: auto            # push disputes only when $ARGILLA_API_URL is set
  task_runner: threads    # or ray (prefect-ray), with ray_address
```
Stage sections (``generate:``, ``annotate:`` ...) keep their own typed configs; this one only
wires them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingest.records import IngestConfig

STAGES = ("ingest", "generate", "annotate", "reconcile", "review", "export", "report")
Stage = Literal["ingest", "generate", "annotate", "reconcile", "review", "export", "report"]
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
BUNDLED_PROBLEMS = "data/samples/gsm8k_test_50.jsonl"


class InputSpec(IngestConfig):
    """One input to ingest: a path (file, folder or Hub id) and the ``ingest`` options for it."""

    path: str = Field(description="a .jsonl/.json/.parquet file, a datasets folder, or a Hub id")

    def resolved(self) -> str:
        """The path as given when it exists from here; a relative path missing here is looked
        up from the repository root (so the bundled sample works from any folder)."""
        here = Path(self.path)
        if here.is_absolute() or here.exists():
            return self.path
        bundled = REPO_ROOT / self.path
        return str(bundled) if bundled.exists() else self.path


class RunConfig(BaseModel):
    """How ``stepforge run`` chains the stages."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[InputSpec] = Field(
        default_factory=lambda: [InputSpec(path=BUNDLED_PROBLEMS)],
        description="inputs ingested first (default: the bundled 50 GSM8K problems)")
    stages: list[Stage] = Field(default_factory=lambda: list(STAGES),
                                description=f"stages to run, in order: {', '.join(STAGES)}")
    review: Literal["auto", "always", "never"] = Field(
        "auto", description="push disputed solutions to Argilla: auto = only when "
        "$ARGILLA_API_URL is set; always = fail when Argilla is unreachable")
    report: str | None = Field(None, description="where the HTML report is written (default: "
                               "report.html in the lake's output folder, out/<lake name>/)")
    export_out: str | None = Field(None, description="export folder when the `export:` section "
                                   "sets no `out` ({format} is replaced; default: prm-{format} in "
                                   "the lake's output folder, out/<lake name>/)")
    task_runner: Literal["threads", "ray"] = Field(
        "threads", description="executor of annotation batches: threads (one process) or ray "
        "(prefect-ray: batches spread over a Ray cluster)")
    ray_address: str | None = Field(
        None, description="Ray cluster address (host:port or 'auto'); unset = start a local Ray")
    gpus_per_task: float | None = Field(
        None, ge=0, description="GPUs a Ray annotation task reserves (unset: 1 when an annotator's "
        "engine is vllm or on cuda, else 0), so one vLLM engine is pinned per GPU")
    gpu_slot: str | None = Field(
        None, description="Prefect global concurrency limit held while engines run (generate, "
        "annotate), e.g. gpu-0: two runs never share one GPU")
    retries: int = Field(1, ge=0, description="retries of a failed stage task")
    stage_timeout: float = Field(6 * 3600, gt=0, description="seconds a stage may run")

    @field_validator("stages")
    @classmethod
    def _ordered(cls, stages: list[str]) -> list[str]:
        if not stages:
            raise ValueError("no stage given")
        return sorted(set(stages), key=STAGES.index)
