"""Prefect flows, the stepforge CLI, schedules and typed configs (the wiring layer)."""

import os

# No telemetry from Prefect's embedded server: the machine may be offline, and users did not ask.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
