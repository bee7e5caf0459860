"""A tiny feature + models, registered for tests of inference, tagging and the web app.

They exercise the checkpoint interface (feature config, framing, normaliser, torch and sklearn
models) without depending on the model zoo: ``make_checkpoint(tmp, kind=...)`` trains one in
well under a second on synthetic tones. Importable from worker processes (``genrelab classify
--workers``) because inference records the module that registered a checkpoint's feature/model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from genrelab.features.config import FeatureConfig, InputSpec, register_feature
from genrelab.models.registry import InputContract, register

SR = 16000
LABELS = ["lowtone", "midtone", "noise"]


@dataclass(frozen=True)
class FixtureBands(FeatureConfig):
    """Mean and std of log energy in ``n_bands`` linear frequency bands (numpy only, fast)."""

    kind: ClassVar[str] = "fixture-bands"
    sample_rate: int = SR
    n_bands: int = 16
    n_fft: int = 512

    def compute(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32)
        n = max(1, (y.size - self.n_fft) // self.n_fft + 1)
        frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, (0, max(0, self.n_fft - y.size))), self.n_fft)[
            :: self.n_fft][:n]
        spec = np.abs(np.fft.rfft(frames * np.hanning(self.n_fft), axis=1)) ** 2
        edges = np.linspace(0, spec.shape[1], self.n_bands + 1).astype(int)
        bands = np.stack([spec[:, a:b].sum(1) for a, b in zip(edges[:-1], edges[1:])], axis=1)
        logb = np.log10(bands + 1e-8)
        return np.concatenate([logb.mean(0), logb.std(0)]).astype(np.float32)


register_feature(FixtureBands)


def fixture_spec(segment_seconds: float | None = 3.0, clip_seconds: float | None = 30.0) -> InputSpec:
    return InputSpec(feature=FixtureBands(), clip_seconds=clip_seconds, segment_seconds=segment_seconds,
                     hop_seconds=segment_seconds)


try:
    import torch
    from torch import nn

    @register("fixture-mlp", family="fixture")
    class FixtureMLP(nn.Module):
        """A two-layer MLP over fixture-bands features (tests only)."""

        def __init__(self, n_classes: int, n_bands: int = 16, hidden: int = 32, segment_seconds: float | None = 3.0,
                     clip_seconds: float | None = 30.0):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2 * n_bands, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

        @classmethod
        def input_contract(cls, n_bands: int = 16, segment_seconds: float | None = 3.0,
                           clip_seconds: float | None = 30.0) -> InputContract:
            spec = InputSpec(feature=FixtureBands(n_bands=n_bands), clip_seconds=clip_seconds,
                             segment_seconds=segment_seconds, hop_seconds=segment_seconds)
            return InputContract(spec, (2 * n_bands,))

        def forward(self, x):
            return self.net(x)
except ImportError:  # pragma: no cover
    torch = None


@register("fixture-logreg", family="fixture", kind="sklearn")
class FixtureLogReg:
    """Logistic regression over fixture-bands features (tests only)."""

    def __init__(self, n_classes: int, **_):
        from sklearn.linear_model import LogisticRegression

        self.model = LogisticRegression(max_iter=500)

    @classmethod
    def input_contract(cls, n_bands: int = 16, segment_seconds: float | None = 3.0,
                       clip_seconds: float | None = 30.0) -> InputContract:
        spec = InputSpec(feature=FixtureBands(n_bands=n_bands), clip_seconds=clip_seconds,
                         segment_seconds=segment_seconds, hop_seconds=segment_seconds)
        return InputContract(spec, (2 * n_bands,))


def synth(label: str, seconds: float = 6.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    if label == "lowtone":
        y = 0.5 * np.sin(2 * np.pi * (110 + 20 * rng.random()) * t)
    elif label == "midtone":
        y = 0.5 * np.sin(2 * np.pi * (1500 + 200 * rng.random()) * t)
    else:
        y = 0.3 * rng.standard_normal(t.size)
    return (y + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def training_set(n_per: int = 12, seconds: float = 3.0, spec: InputSpec | None = None):
    spec = spec or fixture_spec()
    xs, ys = [], []
    for li, lab in enumerate(LABELS):
        for i in range(n_per):
            y = synth(lab, seconds, seed=100 * li + i)
            ex = spec.examples(y)
            xs.append(ex)
            ys += [li] * len(ex)
    return np.concatenate(xs), np.asarray(ys)


def make_checkpoint(path: Path, kind: str = "torch", segment_seconds: float | None = 3.0,
                    clip_seconds: float | None = 30.0) -> Path:
    """Train and save a fixture checkpoint at ``path`` (torch MLP or sklearn logistic regression)."""
    from genrelab import checkpoint
    from genrelab.features.normalize import Standardizer

    args = {"segment_seconds": segment_seconds, "clip_seconds": clip_seconds}
    spec = FixtureLogReg.input_contract(**args).spec
    x, y = training_set(seconds=3.0 if segment_seconds else 6.0, spec=spec)
    norm = Standardizer().fit(x)
    xn = norm.transform(x)
    if kind == "sklearn":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=1000).fit(xn, y)
        return checkpoint.save(path, model, model_name="fixture-logreg", model_args=args, labels=LABELS,
                               normalizer=norm)
    torch.manual_seed(0)
    model = FixtureMLP(len(LABELS), **args)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(xn), torch.from_numpy(y)
    for _ in range(150):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
    model.eval()
    return checkpoint.save(path, model, model_name="fixture-mlp", model_args=args, labels=LABELS, normalizer=norm)
