"""One log format for every process, naming the process so `journeys dev` output reads well."""

from __future__ import annotations

import logging
import os


def configure_logging(process: str) -> None:
    level = os.environ.get("JOURNEYS_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s {process:<6} %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
    # Temporal's core and the HTTP stack are chatty at INFO; their warnings still show.
    for noisy in ("temporalio", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
