"""What the benchmarks print about the machine they ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def pin_cores(cores: int) -> int:
    """Pin this process to its first ``cores`` CPUs (Linux); returns how many it may use."""
    try:
        avail = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, avail[:cores])
        return len(avail[:cores])
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return min(cores, os.cpu_count() or 1)
