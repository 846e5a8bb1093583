"""The ``schedules:`` section of a config file: which flow runs when (``stepforge schedule``
registers them; pipelines/deploy/schedules.py).

```yaml
schedules:
  annotate-nightly: {flow: run, cron: "0 2 * * *", stages: [ingest, generate, annotate, reconcile, review]}
  review-pull: {flow: review-pull, cron: "*/15 * * * *"}
```
No section means ``DEFAULT_SCHEDULES`` (the two above and a weekly export); ``schedules: {}``
means none. The section is typed when the file loads; the cron expressions are checked by
``load_schedules`` only, as their check imports Prefect (seconds) and only scheduling needs it.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.config.files import load_config
from pipelines.config.run import Stage


class ScheduleSpec(BaseModel):
    """One deployment: which flow, when, and (for ``run``) which stages."""

    model_config = ConfigDict(extra="forbid")

    flow: Literal["run", "review-pull"] = Field("run", description="run | review-pull")
    cron: str = Field(description="cron expression, e.g. '0 2 * * *'")
    timezone: str = Field("UTC", description="time zone of the cron expression")
    stages: list[Stage] | None = Field(None, description="stages of a `run` (default: the "
                                       "config's run.stages)")
    concurrency: int = Field(1, ge=1, description="runs of this deployment at once")
    paused: bool = Field(False, description="register the schedule paused")
    description: str = Field("", description="shown in the Prefect UI")


class _Cron(BaseModel):
    """A cron expression as Prefect reads it."""

    cron: str

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        from prefect.client.schemas.schedules import CronSchedule

        CronSchedule(cron=cron)  # raises a validation error naming the expression
        return cron


DEFAULT_SCHEDULES: dict[str, dict[str, Any]] = {
    "annotate-nightly": {
        "flow": "run", "cron": "0 2 * * *",
        "stages": ["ingest", "generate", "annotate", "reconcile", "review"],
        "description": "ingest new problems, generate and annotate them, reconcile, push disputes"},
    "review-pull": {
        "flow": "review-pull", "cron": "*/15 * * * *",
        "description": "pull reviewers' labels from Argilla and reconcile with them"},
    "export-weekly": {
        "flow": "run", "cron": "0 6 * * 1", "stages": ["reconcile", "export", "report"],
        "description": "reconcile, export the PRM training set and write the report"},
}


def load_schedules(section: Mapping[str, ScheduleSpec | dict[str, Any] | None] | None
                   ) -> dict[str, ScheduleSpec]:
    """The schedules of a config section (None: the defaults), typed (a spec typed at load is
    kept as it is) and their cron expressions checked; errors name the schedule."""
    section = DEFAULT_SCHEDULES if section is None else section
    specs = {}
    for name, spec in section.items():
        where = f"schedules.{name}"
        specs[name] = load_config(ScheduleSpec, spec if isinstance(spec, ScheduleSpec)
                                  else dict(spec or {}), {}, where)
        load_config(_Cron, {"cron": specs[name].cron}, {}, where)
    return specs
