"""How a command that runs a Prefect flow reports a stage that failed after its retries: one
line naming the error, and that stored work is kept. Tracebacks only with -v: Prefect's console
lines about a failed task or flow keep their one-line message and drop the traceback (its API
logs, the Prefect UI's, keep it)."""

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


class _NoTraceback(logging.Filter):
    """Passes a record with a traceback on to its handler as a copy without it."""

    def __init__(self, handler: logging.Handler) -> None:
        super().__init__()
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info and not record.exc_text:
            return True
        self.handler.handle(logging.makeLogRecord({**record.__dict__, "exc_info": None,
                                                   "exc_text": None}))
        return False


def quiet_tracebacks(verbose: bool) -> None:
    """Unless ``verbose``, Prefect's console handlers print failures without tracebacks (call
    after importing Prefect, which sets its logging up)."""
    if verbose:
        return
    from prefect.logging.handlers import PrefectConsoleHandler

    manager = logging.Logger.manager
    loggers = [logging.getLogger()] + [logger for logger in manager.loggerDict.values()
                                       if isinstance(logger, logging.Logger)]
    for handler in {h for logger in loggers for h in logger.handlers}:
        if isinstance(handler, PrefectConsoleHandler) and not any(
                isinstance(f, _NoTraceback) for f in handler.filters):
            handler.addFilter(_NoTraceback(handler))
