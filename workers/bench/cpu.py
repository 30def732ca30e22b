"""CPU seconds each process of the stack spends in a phase: the profile that says which process
limits a figure (on 2 cores, the sum over processes is at most 2 s per second)."""

from __future__ import annotations

import os
import time

import psutil

from workers.bench.stack import BenchStack


def _processes(stack: BenchStack) -> dict[str, int]:
    pids = {server.name: server.process.pid for server in stack.servers}
    pids.update({name: child.pid for name, child in stack.children.items()})
    pids["bench"] = os.getpid()
    return pids


def _cpu(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


class CpuMeter:
    """``with CpuMeter(stack) as meter: ...`` then ``meter.result(events)``."""

    def __init__(self, stack: BenchStack) -> None:
        self.stack = stack
        self.before: dict[str, float] = {}
        self.after: dict[str, float] = {}
        self.wall = 0.0

    def __enter__(self) -> CpuMeter:
        self.before = {name: _cpu(pid) for name, pid in _processes(self.stack).items()}
        self.wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.after = {name: _cpu(pid) for name, pid in _processes(self.stack).items()}

    def result(self, events: int) -> dict[str, object]:
        """CPU seconds per process, and milliseconds of CPU per event."""
        spent = {
            name: round(self.after[name] - self.before.get(name, 0.0), 2) for name in self.after
        }
        spent = {name: value for name, value in spent.items() if value > 0}
        return {
            "wall_seconds": round(self.wall, 2),
            "cpu_seconds": spent,
            "cpu_ms_per_event": {
                name: round(1000 * value / max(events, 1), 3) for name, value in spent.items()
            },
            "machine_load_1m": round(os.getloadavg()[0], 2),
        }
