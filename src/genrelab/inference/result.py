"""The one result schema of genrelab classification, shared by Python, the CLI (table, CSV, JSON) and the web API.

``ClassificationResult.to_dict()`` is the JSON form and :meth:`ClassificationResult.from_dict` reads it back
exactly (``from_dict(r.to_dict()) == r``, timeline probabilities included)::

    {"path": "song.mp3", "label": "jazz", "score": 0.91,
     "top": [{"label": "jazz", "score": 0.91}, {"label": "blues", "score": 0.05}],
     "probabilities": {"blues": 0.05, "classical": 0.01, ...},
     "duration": 215.3, "n_segments": 10, "model": "default", "error": null, "error_kind": null,
     "uncertain": false,                                              # score < UNCERTAIN_BELOW
     "styles": [{"label": "jazz", "score": 0.41}, {"label": "blues", "score": 0.18}],   # musicnn models only
     "timeline": [{"start": 0.0, "end": 2.992, "label": "jazz", "score": 0.88,
                   "probabilities": {"blues": 0.07, ...}}, ...]}      # only when a timeline was asked for

``uncertain`` is true when the (calibrated) score is below :data:`UNCERTAIN_BELOW`: the model is then more
likely wrong than right, and ``genrelab tag`` leaves the file alone by default. ``styles`` (absent for models
without a tagger backbone) are the backbone's genre/style tags (:mod:`genrelab.inference.styles`); their scores
are independent tag scores, not a distribution.

``label``/``score`` are the key names everywhere (CLI JSON, web JSON, ``genrelab tags``), as in the
Hugging Face audio-classification pipeline, whose output :meth:`ClassificationResult.pipeline_output` gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genrelab.types import UNCERTAIN_BELOW

SCHEMA = "genrelab-result/1"


@dataclass
class TimelineEntry:
    """One window of the timeline: where it is (seconds from the file's start) and what the model thinks."""

    start: float
    end: float
    label: str
    score: float
    probabilities: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "label": self.label, "score": self.score,
                "probabilities": dict(self.probabilities)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TimelineEntry":
        return cls(float(d["start"]), float(d["end"]), str(d["label"]), float(d["score"]),
                   {str(k): float(v) for k, v in (d.get("probabilities") or {}).items()})


@dataclass
class ClassificationResult:
    """The answer for one file. ``error`` is set (and the rest empty) when the file could not be used."""

    path: str
    top: list[tuple[str, float]] = field(default_factory=list)
    probabilities: dict[str, float] = field(default_factory=dict)
    timeline: list[TimelineEntry] | None = None
    duration: float | None = None
    n_segments: int = 0
    error: str | None = None
    error_kind: str | None = None
    model: str = ""
    uncertain: bool = False
    styles: list[tuple[str, float]] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def label(self) -> str | None:
        return self.top[0][0] if self.top else None

    @property
    def score(self) -> float | None:
        return self.top[0][1] if self.top else None

    # the same, under the names of the first releases
    genre = label
    confidence = score

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see the module docstring); :meth:`from_dict` reads it back exactly."""
        d: dict[str, Any] = {
            "path": self.path, "label": self.label, "score": self.score,
            "top": [{"label": g, "score": p} for g, p in self.top],
            "probabilities": dict(self.probabilities),
            "duration": self.duration, "n_segments": self.n_segments, "model": self.model,
            "error": self.error, "error_kind": self.error_kind, "uncertain": self.uncertain,
        }
        if self.styles is not None:
            d["styles"] = [{"label": g, "score": p} for g, p in self.styles]
        if self.timeline is not None:
            d["timeline"] = [e.to_dict() for e in self.timeline]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ClassificationResult":
        tl = d.get("timeline")
        st = d.get("styles")
        return cls(
            path=str(d["path"]), top=[(str(t["label"]), float(t["score"])) for t in d.get("top") or []],
            probabilities={str(k): float(v) for k, v in (d.get("probabilities") or {}).items()},
            timeline=None if tl is None else [TimelineEntry.from_dict(t) for t in tl],
            duration=None if d.get("duration") is None else float(d["duration"]),
            n_segments=int(d.get("n_segments") or 0), error=d.get("error") or None,
            error_kind=d.get("error_kind") or None, model=str(d.get("model") or ""),
            uncertain=bool(d.get("uncertain", False)),
            styles=None if st is None else [(str(s["label"]), float(s["score"])) for s in st],
        )

    def pipeline_output(self, top_k: int | None = None) -> list[dict[str, Any]]:
        """``[{"label", "score"}, ...]`` best first (every label when ``top_k`` is None), the Hugging Face
        audio-classification pipeline's shape."""
        ranked = sorted(self.probabilities.items(), key=lambda kv: -kv[1]) if self.probabilities else list(self.top)
        return [{"label": g, "score": float(p)} for g, p in ranked[:top_k]]


def result_from_dict(d: dict[str, Any]) -> ClassificationResult:
    """:meth:`ClassificationResult.from_dict` (a function for callers that map over rows)."""
    return ClassificationResult.from_dict(d)


__all__ = ["ClassificationResult", "TimelineEntry", "result_from_dict", "SCHEMA", "UNCERTAIN_BELOW"]
