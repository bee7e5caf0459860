"""The timeline that follows the music: a short-window head, smoothing over time, and the song's answer.

**Window head** (:class:`WindowHead`). A clip model judges a 30 s context, so every window of a 30 s clip gets
the same answer. The window head judges ``context`` musicnn patches (3 s each; 3 patches, about 9 s, centred on
the patch): mean and std of the MSD_musicnn penultimate outputs (the same per-patch outputs the clip model pools,
so no second network pass), z-scored, then a multinomial logistic regression (trained on the shared GTZAN clips
by ``benchmarks/listener_models.py``), then its own calibration temperature. Stored as numpy arrays in
plus a JSON file (``<checkpoint>/timeline/``, written and read by :mod:`genrelab.checkpoint`): numpy runs it.

**Smoothing** (:func:`smooth`). A hidden Markov model over the genres, one step per patch: the emission
log-likelihoods are the window head's calibrated log-probabilities; switching to another genre costs
``switch_penalty`` nats more than staying (each other genre is ``exp(-switch_penalty)`` times as likely as the
same one next patch; 4 nats: a window must be about 55 times likelier under the new genre, or the change must
last, before the timeline turns). The labels are the Viterbi path (the single best sequence: one switch per
real change, not a flicker); each entry keeps the window head's own calibrated probabilities (what those few
seconds sound like, so the windows of one clip differ), its score being the probability of its smoothed label.

**The song's answer from the windows** (:func:`song_answer`). With a timeline, the headline is formed from the
timeline itself, so it always agrees with it: the label is the genre that holds the most seconds of the timeline
(ties: the higher mean probability); the other genres follow by seconds, then by mean probability; each genre's
probability is its duration-weighted mean probability over the entries, and the headline's score is that of its
label.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from genrelab.types import GenrelabError

FORMAT = "genrelab-window-head"
#: Nats a switch of genre costs on the timeline, relative to staying (fixed a priori, not tuned on test audio).
DEFAULT_SWITCH_PENALTY = 4.0


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))).squeeze(axis)


@dataclass
class WindowHead:
    """Short-window genre head on per-patch musicnn outputs (see the module docstring).

    Input: per-patch outputs ``(n_patches, width)`` of ``model``'s ``layer``; output: calibrated probabilities
    ``(n_patches, n_labels)``, row ``i`` judging the ``context`` patches centred on patch ``i``.
    """

    labels: list[str]
    coef: np.ndarray  # (n_labels, dim)
    intercept: np.ndarray  # (n_labels,)
    mean: np.ndarray  # (dim,)
    scale: np.ndarray  # (dim,)
    context: int = 3
    pooling: tuple[str, ...] = ("mean", "std")
    model: str = "MSD_musicnn"
    layer: str = "penultimate"
    temperature: float = 1.0
    switch_penalty: float = DEFAULT_SWITCH_PENALTY
    meta: dict[str, Any] | None = None

    def features(self, per_patch: np.ndarray) -> np.ndarray:
        """``(n, len(pooling) * width)``: the pooled outputs of the ``context`` patches around each patch."""
        x = np.asarray(per_patch, dtype=np.float64)
        n = len(x)
        ctx = max(1, min(self.context, n))
        starts = [max(0, min(i - (ctx - 1) // 2, n - ctx)) for i in range(n)]
        stats = {"mean": np.mean, "std": np.std, "max": np.max, "min": np.min}
        return np.stack([np.concatenate([stats[p](x[a:a + ctx], axis=0) for p in self.pooling]) for a in starts])

    def log_proba(self, per_patch: np.ndarray) -> np.ndarray:
        """Calibrated log-probabilities ``(n_patches, n_labels)``."""
        if len(per_patch) == 0:
            return np.zeros((0, len(self.labels)))
        z = ((self.features(per_patch) - self.mean) / self.scale) @ self.coef.T + self.intercept
        z = z / self.temperature
        return z - _logsumexp(z, axis=1)[:, None]

    def predict_proba(self, per_patch: np.ndarray) -> np.ndarray:
        return np.exp(self.log_proba(per_patch))

    # -- storage: genrelab.checkpoint's companion heads (numpy arrays + JSON; no pickle)
    @classmethod
    def load(cls, folder: str | Path) -> "WindowHead":
        from genrelab.checkpoint import load_head

        meta, arr = load_head(folder)
        if meta.get("format") != FORMAT:
            raise GenrelabError(f"{folder}: not a {FORMAT}")
        return cls(labels=list(meta["labels"]), coef=arr["coef"], intercept=arr["intercept"], mean=arr["mean"],
                   scale=arr["scale"], context=int(meta["context_patches"]),
                   pooling=tuple(meta["pooling"]), model=str(meta["model"]), layer=str(meta["layer"]),
                   temperature=float(meta.get("calibration", {}).get("temperature", 1.0)),
                   switch_penalty=float(meta.get("switch_penalty", DEFAULT_SWITCH_PENALTY)), meta=meta)

    def save(self, folder: str | Path, extra: dict[str, Any] | None = None) -> Path:
        from genrelab.checkpoint import save_head

        meta = {"format": FORMAT, "format_version": 1, "labels": list(self.labels), "model": self.model,
                "layer": self.layer, "context_patches": self.context, "pooling": list(self.pooling),
                "switch_penalty": self.switch_penalty,
                "calibration": {"method": "temperature", "temperature": self.temperature}, **(extra or {})}
        if extra and "calibration" in extra:
            meta["calibration"] = {**extra["calibration"], "temperature": self.temperature}
        return save_head(folder, {"coef": self.coef, "intercept": self.intercept, "mean": self.mean,
                                  "scale": self.scale}, meta)


def find_head(checkpoint_dir: str | Path | None) -> Path | None:
    """The window head shipped with a checkpoint (its ``timeline/`` folder), if any."""
    if checkpoint_dir is None:
        return None
    folder = Path(checkpoint_dir) / "timeline"
    return folder if (folder / "head.json").is_file() else None


def _transitions(n_labels: int, switch_penalty: float) -> np.ndarray:
    """Log transition matrix: moving to any other genre is ``exp(-switch_penalty)`` times as likely as staying
    (rows normalised; a penalty of 0 makes every window independent)."""
    a = -float(switch_penalty) * (1.0 - np.eye(n_labels))
    return a - _logsumexp(a, axis=1)[:, None]


def smooth(log_proba: np.ndarray, switch_penalty: float = DEFAULT_SWITCH_PENALTY) -> np.ndarray:
    """The Viterbi path ``(n,)`` (label indices) of the HMM described in the module docstring for per-window
    log-probabilities ``(n, C)``."""
    e = np.asarray(log_proba, dtype=np.float64)
    n, c = e.shape
    if n == 0:
        return np.zeros(0, dtype=int)
    a = _transitions(c, switch_penalty)
    prior = np.full(c, -np.log(c))
    delta, back = prior + e[0], np.zeros((n, c), dtype=int)
    for t in range(1, n):
        cand = delta[:, None] + a  # from -> to
        back[t] = cand.argmax(axis=0)
        delta = cand.max(axis=0) + e[t]
    path = np.zeros(n, dtype=int)
    path[-1] = int(delta.argmax())
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def song_answer(labels: Sequence[str], entry_labels: Sequence[str], durations: Sequence[float],
                proba: np.ndarray) -> tuple[list[tuple[str, float]], dict[str, float]]:
    """``(top, probabilities)`` of a song from its timeline (see "The song's answer from the windows" above):
    ``entry_labels`` and ``proba`` ``(n, C)`` per entry, weighted by ``durations``."""
    w = np.asarray(durations, dtype=np.float64)
    w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / max(len(w), 1))
    mean = (np.asarray(proba, dtype=np.float64) * w[:, None]).sum(axis=0)
    seconds = {lab: 0.0 for lab in labels}
    for lab, d in zip(entry_labels, durations):
        seconds[lab] += float(d)
    order = sorted(range(len(labels)), key=lambda i: (-round(seconds[labels[i]], 6), -mean[i], i))
    return [(labels[i], float(mean[i])) for i in order], {lab: float(v) for lab, v in zip(labels, mean)}


__all__ = ["WindowHead", "find_head", "smooth", "song_answer", "DEFAULT_SWITCH_PENALTY"]
