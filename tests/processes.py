"""Process states read from /proc (Linux), for the tests that kill parents and check their workers are gone."""

from __future__ import annotations

from pathlib import Path


def state(pid: int) -> str | None:
    """The one-letter state of ``pid`` (``R``, ``S``, ``Z`` for a zombie, ...), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def alive(pid: int) -> bool:
    """Still running: present and neither a zombie nor dead."""
    return state(pid) not in (None, "Z", "X")


def children(pid: int) -> set[int]:
    """The child processes of every thread of ``pid``."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out
