"""One log format for every process, naming the process so `journeys dev` output reads well.

Log messages carry input (customer ids, event names, URLs): a newline in a ``userId`` would
start a forged line, and ANSI escapes would rewrite the terminal. Every record's message is
escaped once, in the handler's filter, so no call site has to remember to.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

LOG_FORMAT = "%(asctime)s {process:<6} %(levelname)-7s %(name)s: %(message)s"
# C0 and C1 controls (newline, CR, ESC, ...), DEL, line and paragraph separators, and the
# bidirectional overrides that reorder what a terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    r"""``text`` with each control character written as its escape (``\n``, ``\x1b``)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class EscapeControls(logging.Filter):
    """Formats each record's message with its arguments, then escapes its control characters.
    Tracebacks are :class:`IndentedTracebacks`' business: their line breaks are their layout."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_controls(message)
        if escaped != message or record.args:
            record.msg, record.args = escaped, None
        return True


class IndentedTracebacks(logging.Formatter):
    """Tracebacks and stacks indented under their record, control characters but line breaks
    escaped: an exception's message may hold input, and a line it starts must not pass for a
    record of its own (records start at the first column, their continuations never do)."""

    def formatException(self, ei: Any) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    return "\n".join(f"    {escape_controls(line)}" for line in text.split("\n"))


def configure_logging(process: str) -> None:
    level = os.environ.get("JOURNEYS_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(EscapeControls())
        handler.setFormatter(IndentedTracebacks(LOG_FORMAT.format(process=process), "%H:%M:%S"))
    # Temporal's core and the HTTP stack are chatty at INFO; their warnings still show.
    for noisy in ("temporalio", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
