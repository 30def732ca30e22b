"""Input cannot forge log lines: control characters in anything logged are escaped.

The probe sent an identify whose ``userId`` held a newline and ANSI codes, and the router's log
showed a forged line. Here a real `journeys router` process routes that identify, and its log is
read back as an operator's terminal would show it.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import nats
import pytest
from temporalio.client import Client

from journeys.ingest import bus
from journeys.ingest.events import Event
from tests.conftest import Store, stack_settings
from tests.support.helpers import eventually, start_process
from workers.logs import EscapeControls, escape_controls

FORGED = "12:00:00 router ERROR  journeys.router: admin key leaked"
HOSTILE_ID = f"c-log\n{FORGED}\x1b[2K\x1b[31m\r"


def test_control_characters_are_written_as_escapes() -> None:
    assert escape_controls("a\nb\r\tc\x1b[31m\x7f\x85\u2028\u202e") == (
        "a\\nb\\r\\tc\\x1b[31m\\x7f\\x85\\u2028\\u202e"
    )
    assert escape_controls("Ada Lovelace, café ✓") == "Ada Lovelace, café ✓"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "for %s: %d", ("x\ny", 3), None)
    EscapeControls().filter(record)
    assert record.getMessage() == "for x\\ny: 3"


def test_every_process_log_escapes_its_records(tmp_path: Path) -> None:
    """configure_logging, as each `journeys` command calls it, covers every logger."""
    script = (
        "import logging; from workers.logs import configure_logging; "
        "configure_logging('api'); "
        f"logging.getLogger('uvicorn.error').warning('path %s', {HOSTILE_ID!r}); "
        f"logging.getLogger('journeys.x').info({HOSTILE_ID!r})\n"
        f"try: raise ValueError({HOSTILE_ID!r})\n"
        "except ValueError: logging.getLogger('journeys.y').exception('routing failed')"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    lines = done.stderr.splitlines()
    records = [line for line in lines if not line.startswith(" ")]
    assert len(records) == 3, done.stderr
    assert "\x1b" not in done.stderr
    assert not any(line.startswith(FORGED) for line in lines)
    assert all("c-log\\n12:00:00" in line for line in records[:2])
    # The exception's message keeps its line break, indented as the traceback it belongs to.
    assert f"    ValueError: c-log\n    {FORGED}\\x1b[2K" in done.stderr


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_an_identify_user_id_cannot_forge_a_router_log_line(
    store: Store, fresh_nats_url: str, temporal_address: str, temporal_dev: Client, tmp_path: Path
) -> None:
    settings = stack_settings(store, fresh_nats_url, temporal_address)
    connection = await nats.connect(settings.nats_url)
    js = connection.jetstream()
    await bus.ensure_streams(js, settings)
    log = tmp_path / "router.log"
    router = start_process("router", settings, log)
    try:
        identify = Event.model_validate(
            {"type": "identify", "userId": HOSTILE_ID, "traits": {"name": "Mallory"}}
        )
        await bus.publish_event(js, settings, identify)

        async def routed() -> None:
            assert "c-log\\n12:00:00" in log.read_text(errors="replace")

        await eventually(routed, timeout=60)
        text = log.read_text(errors="replace")
        assert "\x1b" not in text
        assert not any(line.startswith(FORGED) for line in text.splitlines())
    finally:
        router.terminate()
        router.wait(30)
        await connection.close()
