"""How well a timeline follows known sections: seconds labelled right, per-section majority, boundary errors.

A timeline is ``[(start, end, label), ...]`` (seconds); the truth is sections ``[(start, end, label), ...]``
that tile the file. Used by ``benchmarks/listener_models.py`` and the timeline tests.
"""

from __future__ import annotations

from typing import Any, Sequence


def label_at(timeline: Sequence[tuple[float, float, str]], t: float) -> str | None:
    for a, b, lab in timeline:
        if a <= t < b:
            return lab
    return None


def timeline_scores(timeline: Sequence[tuple[float, float, str]], sections: Sequence[tuple[float, float, str]],
                    step: float = 0.05) -> dict[str, Any]:
    """``seconds_correct`` (share of the sections' time whose timeline label is the section's, sampled every
    ``step`` s), ``section_labels`` (each section's majority timeline label by time), ``boundary_errors``
    (for each inner section boundary, seconds to the nearest change of timeline label; the file's length when
    the timeline never changes)."""
    changes = [b[0] for a, b in zip(timeline, timeline[1:]) if a[2] != b[2]]
    total = right = 0.0
    majority = []
    for a, b, truth in sections:
        seconds: dict[str, float] = {}
        t = a + step / 2
        while t < b:
            lab = label_at(timeline, t)
            if lab is not None:
                seconds[lab] = seconds.get(lab, 0.0) + step
            right += step if lab == truth else 0.0
            total += step
            t += step
        majority.append(max(seconds, key=seconds.get) if seconds else None)
    length = sections[-1][1] if sections else 0.0
    errors = [min((abs(c - s[1]) for c in changes), default=length) for s in sections[:-1]]
    return {"seconds_correct": round(right / total, 4) if total else 0.0, "section_labels": majority,
            "boundary_errors": [round(e, 2) for e in errors]}


__all__ = ["timeline_scores", "label_at"]
