"""The musicnn backbone of embedding models (the shipped model) in the Ray actors, on a GPU.

For a checkpoint whose feature is a musicnn embedding, the costly part of the *feature* is the pretrained network
(84 % of a track's time on a CPU, docs/scaling.md). When the actors have a GPU, the CPU tasks stop before it:
they read the windows the classifier would embed (a recorder stands in for the feature inside the very same
``Classifier.classify``) and compute their log-mel patches; the actor runs the network on the patches of many
files at once on its device, pools each window's patches as the feature does, and hands the embeddings to the
checkpoint's head.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np


def splits(clf: Any) -> bool:
    """True when ``clf``'s feature is a musicnn embedding (patches -> pretrained network -> pooled layer)."""
    feat = clf.spec.feature
    return getattr(feat, "kind", None) == "musicnn" and all(hasattr(feat, a) for a in ("pool", "model", "layer"))


class _WindowRecorder:
    """Stands in for the checkpoint's feature: keeps the windows it is asked to embed, answers zeros."""

    def __init__(self, feature: Any):
        self._feature = feature
        self.windows: list[np.ndarray] = []

    def compute_many(self, signals: Sequence[np.ndarray], runtime: Any = None, side: Any = None) -> np.ndarray:
        # ``side`` (the tag scores of the same pass, for styles) is left empty: no styles on this path
        self.windows.extend(np.asarray(s, dtype=np.float32) for s in signals)
        return np.zeros((len(signals), self._feature.dim), dtype=np.float32)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._feature, name)


def recording(clf: Any) -> tuple[Any, _WindowRecorder]:
    """A shallow copy of ``clf`` whose feature records windows (the original classifier is left as it is)."""
    rec = _WindowRecorder(clf.spec.feature)
    spec = copy.copy(clf.spec)
    object.__setattr__(spec, "feature", rec)  # InputSpec is frozen: a copy, never the checkpoint's own spec
    twin = copy.copy(clf)
    twin.spec = spec
    return twin, rec


def patches(windows: Sequence[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """The log-mel patches of each window (as the musicnn feature computes them) and how many each has."""
    from genrelab.musicnn import dsp

    per_window = [dsp.patches(m) for m in dsp.log_mels(windows)]
    return np.concatenate(per_window).astype(np.float32, copy=False), [len(p) for p in per_window]


class DeviceBackbone:
    """The pretrained network of ``feature`` on a torch ``device``: patches -> pooled embeddings per window."""

    def __init__(self, feature: Any, device: str, batch: int = 256):
        from genrelab.musicnn.weights import load_pretrained

        self.feature, self.device, self.batch = feature, device, batch
        self.net = load_pretrained(feature.model).to(device).eval()

    def embed(self, x: np.ndarray, counts: Sequence[int]) -> np.ndarray:
        import torch

        outs = []
        with torch.inference_mode():
            for i in range(0, len(x), self.batch):
                xb = torch.from_numpy(np.ascontiguousarray(x[i:i + self.batch])).to(self.device)
                outs.append(self.net.forward_features(xb, (self.feature.layer,))[self.feature.layer].float().cpu())
        per_patch = torch.cat(outs).numpy() if outs else np.zeros((0, self.feature.width), np.float32)
        bounds = np.cumsum([0, *counts])
        return np.stack([self.feature.pool(per_patch[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])


__all__ = ["splits", "recording", "patches", "DeviceBackbone"]
