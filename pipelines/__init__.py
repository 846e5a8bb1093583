"""Prefect flows, the stepforge CLI, schedules and typed configs (the wiring layer)."""

import os

# No telemetry from Prefect's embedded server: the machine may be offline, and users did not ask.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The embedded server's startup (a fresh SQLite database, migrations) took over Prefect's 20 s
# default on a busy 2-core machine and failed the run: allow 90 s unless the user set it.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
