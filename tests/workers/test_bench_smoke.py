"""`journeys bench --quick`: every phase runs on a stack of its own and every figure is reported.

A smoke test, not a benchmark: the quick run's numbers mean nothing (CI's machine is shared and
the run is tiny), so nothing here asserts a rate, a latency or a target. docs/scaling.md has the
full-size figures.

Marked ``slow``: it runs every phase of the bench, each on a stack of its own (about 30 s on an
idle 2-core machine, minutes on a busy one), so it has its own time limit rather than the
suite's 180 s. ``make test`` and CI still run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

FIGURES = {
    "raw_temporal": (
        "starts_per_second",
        "completed_per_second",
        "call_latency_at_max",
        "to_first_workflow_task",
        "cpu",
    ),
    "raw_temporal_after": ("starts_per_second", "completed_per_second", "cpu"),
    "raw_nats": ("messages_per_second", "cpu"),
    "non_matching": ("events_per_second", "cpu"),
    "matching": ("events_per_second", "waiting_per_second", "runs_started", "cpu"),
    "send_capacity": ("journeys_per_second", "seconds", "all_delivered", "cpu"),
    "latency": (
        "rate_per_second",
        "to_first_workflow_task",
        "to_first_delivery",
        "all_delivered",
        "cpu",
    ),
    "memory": (
        "waiting_at_once",
        "worker_rss_idle_mib",
        "worker_rss_waiting_mib",
        "worker_rss_peak_mib",
        "all_completed",
        "timers_fired_during_pause",
    ),
}
RATIOS = {
    "matching_vs_raw_temporal",
    "matching_vs_raw_before",
    "matching_vs_raw_after",
    "runs_waiting_vs_raw_completed",
    "non_matching_vs_raw_nats",
    "first_task_p50_vs_raw",
    "first_task_p99_vs_raw",
    "first_delivery_p50_vs_raw_first_task",
    "first_delivery_p99_vs_raw_first_task",
    "worker_rss_peak_vs_idle",
}


def test_quick_bench_reports_every_figure_with_its_ratio(tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {key: value for key, value in os.environ.items() if not key.startswith("JOURNEYS_")}
    result = subprocess.run(
        [sys.executable, "-m", "workers.cli", "bench", "--quick", "--out", str(out)],
        cwd=tmp_path,
        env={**env, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=450,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "ours / raw" in result.stdout
    assert "CPU ms per event" in result.stdout

    results = json.loads((out / "bench.json").read_text())
    assert results["quick"] is True
    for phase, figures in FIGURES.items():
        for figure in figures:
            assert results[phase].get(figure) is not None, f"{phase}.{figure} missing"
    for phase, figure in (
        ("raw_temporal", "to_first_workflow_task"),
        ("latency", "to_first_workflow_task"),
        ("latency", "to_first_delivery"),
    ):
        assert results[phase][figure]["samples"] > 0, f"{phase}.{figure}: no sample"
    assert set(results["ratios"]) == RATIOS
    assert all(value is not None for value in results["ratios"].values()), results["ratios"]
    assert len(results["targets"]) == 4
    assert all(isinstance(target["met"], bool) for target in results["targets"])
    assert results["memory"]["all_completed"] is True
    assert results["memory"]["completed"] == results["sizes"]["waiting_journeys"]
    assert results["chart"] is True
    assert (out / "bench.png").stat().st_size > 10_000
    assert results["stack_folder"] is None  # not kept: the temporary folder is removed
