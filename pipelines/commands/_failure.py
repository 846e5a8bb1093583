"""How a command that runs a Prefect flow reports a stage that failed after its retries: one
line naming the error, and that stored work is kept (the traceback only with -v)."""

from __future__ import annotations

import logging
import sys

from engines.preflight import NeedsUnmet
from schemas import RecordError

# errors the CLI already prints in one line with exit status 2 (bad input, config, lake busy)
USER_ERRORS = (RecordError, FileNotFoundError, ValueError, NeedsUnmet)


def report_failure(command: str, exc: BaseException, resumable: bool = True) -> int:
    """Print ``stepforge COMMAND: error: ...`` (and the resume hint when re-running can
    succeed); returns the exit status 1."""
    logging.getLogger(f"stepforge.{command}").debug("%s failed", command, exc_info=exc)
    cause = (str(exc).strip().splitlines() or [""])[0]
    hint = ("\nwork finished before the failure is stored; run the same command again to resume"
            if resumable else "")
    print(f"stepforge {command}: error: {type(exc).__name__}: {cause}{hint}", file=sys.stderr)
    return 1
