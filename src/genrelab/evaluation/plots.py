"""Plots as PNG (matplotlib, Agg canvas; pyplot's global state is never touched).

Each plot has a ``*_figure(...) -> Figure`` builder and a ``plot_*(..., out) -> Path`` that writes
the PNG. A PNG is exactly ``size`` inches x ``dpi`` pixels (no tight bounding box), so callers and
tests know its pixel size. :func:`png_bytes` gives the bytes (for embedding in HTML reports).

* :func:`history_figure` — loss and accuracy curves (the studies' "cost history") from the per-epoch
  ``history.csv`` that training writes. Expected columns: ``epoch, train_loss, val_loss, train_acc,
  val_acc`` (any subset; other columns such as ``lr`` are ignored; empty cells are gaps), and the test
  curve (``test_loss``/``test_acc``) where a run recorded one, labelled :data:`TEST_CURVE_LABEL`.
* :func:`overlay_figure` — one per-epoch column of several runs in one axes (Liu et al., figs. 5-6).
* :func:`confusion_figure` — confusion-matrix heatmap, counts or row-normalised.
* :func:`per_genre_recall_figure` — per-genre recall, grouped bars for several models (Liu et al., fig. 8).
* :func:`comparison_figure` — one metric for many models, with confidence-interval error bars when given.
* :func:`genre_sheet_figure` — waveform, mel spectrogram and MFCCs of one clip per genre (Sears, figs. 1-3).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from genrelab.fileio import atomic_write_bytes

__all__ = [
    "HISTORY_COLUMNS", "read_history", "save_png", "png_bytes",
    "history_figure", "plot_history", "has_curves", "overlay_figure", "TEST_CURVE_LABEL",
    "confusion_figure", "plot_confusion",
    "per_genre_recall_figure", "plot_per_genre_recall",
    "comparison_figure", "plot_comparison",
    "genre_sheet_figure", "plot_genre_sheet",
]

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc")
DPI = 100
#: The legend label of a per-epoch test curve: shown where a study reported one, never used for selection.
TEST_CURVE_LABEL = "test (reported by the study; not used for selection)"
#: (history column prefix, line style, legend label) of the curves :func:`history_figure` draws.
CURVE_PARTS = (("train", "-", "train"), ("val", "--", "validation"), ("test", ":", TEST_CURVE_LABEL))


# --------------------------------------------------------------------------- output
def _new_figure(size: tuple[float, float], layout: str | None = "constrained") -> Figure:
    fig = Figure(figsize=size, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_png(fig: Figure, out: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``out`` as PNG atomically (temporary file then rename); returns the path."""
    return atomic_write_bytes(out, png_bytes(fig, dpi), fsync=False)


# --------------------------------------------------------------------------- history curves
def read_history(history: str | Path | Mapping[str, Sequence[Any]] | Any) -> dict[str, np.ndarray]:
    """Per-epoch history as ``{column: float array}`` from a CSV path, a dict of lists, a list of per-epoch
    dicts (``RunRecord.history``) or a DataFrame.

    Empty or non-numeric cells become NaN. Without an ``epoch`` column epochs are numbered 1..n.
    """
    if isinstance(history, (str, Path)):
        with open(history, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        cols: dict[str, list[Any]] = {}
        for row in rows:
            for k, v in row.items():
                if k is not None:
                    cols.setdefault(k.strip(), []).append(v)
    elif hasattr(history, "to_dict") and hasattr(history, "columns"):  # pandas DataFrame
        cols = {str(c): list(history[c]) for c in history.columns}
    elif isinstance(history, (list, tuple)):  # rows: [{"epoch": 1, "train_loss": ...}, ...]
        keys = list(dict.fromkeys(k for row in history for k in row))
        cols = {str(k): [row.get(k) for row in history] for k in keys}
    else:
        cols = {str(k): list(v) for k, v in dict(history).items()}

    def num(v: Any) -> float:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return float("nan")
        return x

    out = {k: np.array([num(v) for v in vs], dtype=np.float64) for k, vs in cols.items()}
    n = max((len(v) for v in out.values()), default=0)
    if "epoch" not in out or np.isnan(out["epoch"]).all():
        out["epoch"] = np.arange(1, n + 1, dtype=np.float64)
    return out


def has_curves(history: Any, columns: Sequence[str] | None = None) -> bool:
    """Whether ``history`` holds any per-epoch value of ``columns`` (default: the train/validation/test
    loss and accuracy; scikit-learn runs have none)."""
    try:
        h = read_history(history)
    except (OSError, ValueError, TypeError):
        return False
    if columns is None:
        columns = [f"{part}_{m}" for part, _, _ in CURVE_PARTS for m in ("loss", "acc")]
    return any(c in h and not np.isnan(h[c]).all() for c in columns)


def history_figure(history: Any, title: str | None = None, size: tuple[float, float] = (10, 4)) -> Figure:
    """Two panels: loss and accuracy per epoch, train and validation, plus the test curve where the run
    recorded one (dotted, labelled :data:`TEST_CURVE_LABEL`)."""
    h = read_history(history)
    ep = h["epoch"]
    fig = _new_figure(size)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, what in ((ax_loss, "loss"), (ax_acc, "acc")):
        drawn = False
        for part, style, label in CURVE_PARTS:
            col = f"{part}_{what}"
            if col in h and not np.isnan(h[col]).all():
                y = h[col]
                ok = ~np.isnan(y)
                ax.plot(ep[ok], y[ok], style, marker="o" if ok.sum() < 30 else None, markersize=3, label=label)
                drawn = True
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss" if what == "loss" else "accuracy")
        ax.set_title("loss" if what == "loss" else "accuracy")
        ax.grid(alpha=0.3)
        _one_epoch_axis(ax)
        if drawn:
            ax.legend(loc="best", fontsize=7)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def overlay_figure(series: Mapping[str, Any], column: str, title: str | None = None, ylabel: str | None = None,
                   size: tuple[float, float] = (7, 4)) -> Figure:
    """One line per run: ``series`` maps a legend label to a history (anything :func:`read_history`
    reads); ``column`` is the per-epoch column drawn (e.g. ``val_acc``). Runs without it are left out."""
    fig = _new_figure(size)
    ax = fig.subplots()
    colors = _colors(max(1, len(series)))
    drawn = 0
    for k, (label, history) in enumerate(series.items()):
        h = read_history(history)
        y = h.get(column)
        if y is None or np.isnan(y).all():
            continue
        ok = ~np.isnan(y)
        ax.plot(h["epoch"][ok], y[ok], "-", marker="o" if ok.sum() < 30 else None, markersize=3, color=colors[k],
                label=str(label))
        drawn += 1
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel or column)
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(loc="best", fontsize=7)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
    _one_epoch_axis(ax)
    ax.set_title(title or column, fontsize=9, wrap=True)
    return fig


def _one_epoch_axis(ax: Any) -> None:
    """A single epoch gets the x range 0.5-1.5 (one integer tick), not matplotlib's fractional one."""
    lo, hi = ax.get_xlim()
    if ax.get_lines() and hi - lo < 1:
        ax.set_xlim(0.5, 1.5)


def plot_history(history: Any, out: str | Path, title: str | None = None,
                 size: tuple[float, float] = (10, 4), dpi: int = DPI) -> Path:
    return save_png(history_figure(history, title, size), out, dpi)


# --------------------------------------------------------------------------- confusion matrix
def confusion_figure(
    cm: Sequence[Sequence[float]] | np.ndarray,
    labels: Sequence[str],
    normalize: bool = False,
    title: str | None = None,
    size: tuple[float, float] = (7, 6),
    annotate: bool | None = None,
) -> Figure:
    """Heatmap of a confusion matrix (rows = true genre, columns = predicted).

    ``cm`` holds counts; ``normalize=True`` divides each row by its sum (shows recall on the diagonal).
    Cells are annotated when there are at most 20 classes (or as ``annotate`` says).
    """
    m = np.asarray(cm, dtype=np.float64)
    C = len(labels)
    if m.shape != (C, C):
        raise ValueError(f"confusion matrix shape {m.shape} does not match {C} labels")
    if normalize:
        rows = m.sum(axis=1, keepdims=True)
        m = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    fig = _new_figure(size)
    ax = fig.subplots()
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1 if normalize else max(1.0, m.max()))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(C), labels=list(labels), rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(C), labels=list(labels), fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if annotate is None:
        annotate = C <= 20
    if annotate and C:
        thresh = (1.0 if normalize else m.max()) / 2
        for i in range(C):
            for j in range(C):
                v = m[i, j]
                txt = f"{v:.2f}" if normalize else f"{int(round(v))}"
                ax.text(j, i, txt, ha="center", va="center", fontsize=7 if C > 10 else 8,
                        color="white" if v > thresh else "black")
    ax.set_title(title or ("confusion matrix (row-normalised)" if normalize else "confusion matrix (counts)"))
    return fig


def plot_confusion(cm: Any, labels: Sequence[str], out: str | Path, normalize: bool = False,
                   title: str | None = None, size: tuple[float, float] = (7, 6), dpi: int = DPI) -> Path:
    return save_png(confusion_figure(cm, labels, normalize, title, size), out, dpi)


# --------------------------------------------------------------------------- per-genre recall
def per_genre_recall_figure(
    recalls: Mapping[str, Mapping[str, float] | Sequence[float]],
    labels: Sequence[str] | None = None,
    title: str | None = "per-genre recall",
    size: tuple[float, float] = (11, 4.5),
) -> Figure:
    """Grouped bars: one group per genre, one bar per model (Liu et al., figure 8).

    ``recalls`` maps a model name to ``{genre: recall}`` (missing genres are left out) or to a list in
    ``labels`` order. ``labels`` defaults to the genres of the first model, in order.
    """
    models = list(recalls)
    if labels is None:
        first = recalls[models[0]] if models else {}
        if not isinstance(first, Mapping):
            raise ValueError("labels are required when recalls are lists")
        labels = list(first)
    labels = list(labels)
    G, M = len(labels), max(1, len(models))
    fig = _new_figure(size)
    ax = fig.subplots()
    width = 0.8 / M
    x = np.arange(G)
    cmap = _colors(M)
    for k, name in enumerate(models):
        r = recalls[name]
        if isinstance(r, Mapping):
            vals = np.array([_num(r.get(g)) for g in labels])
        else:
            vals = np.array([_num(v) for v in r])
            if vals.size != G:
                raise ValueError(f"{name}: {vals.size} recalls for {G} labels")
        ax.bar(x - 0.4 + width * (k + 0.5), np.nan_to_num(vals), width, label=name, color=cmap[k])
    ax.set_xticks(x, labels=labels, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("recall")
    ax.grid(axis="y", alpha=0.3)
    if models:
        ax.legend(fontsize=7, ncol=min(4, M), loc="upper center", bbox_to_anchor=(0.5, -0.22))
    if title:
        ax.set_title(title)
    return fig


def plot_per_genre_recall(recalls: Mapping[str, Any], out: str | Path, labels: Sequence[str] | None = None,
                          title: str | None = "per-genre recall", size: tuple[float, float] = (11, 4.5),
                          dpi: int = DPI) -> Path:
    return save_png(per_genre_recall_figure(recalls, labels, title, size), out, dpi)


# --------------------------------------------------------------------------- model comparison
def comparison_figure(
    names: Sequence[str],
    values: Sequence[float | None],
    metric: str = "accuracy",
    ci: Sequence[tuple[float, float] | None] | None = None,
    title: str | None = None,
    size: tuple[float, float] | None = None,
) -> Figure:
    """Horizontal bars of one metric per model (in the given order, first on top), with the
    ``ci[i] = (low, high)`` interval as an error bar where given. Missing values are drawn as "—".
    ``size`` defaults to 8 inches wide and 0.35 inch per model (at least 2.5)."""
    n = len(names)
    if len(values) != n:
        raise ValueError("names and values differ in length")
    if size is None:
        size = (8.0, max(2.5, 0.35 * n + 1.2))
    fig = _new_figure(size)
    ax = fig.subplots()
    vals = np.array([_num(v) for v in values])
    y = np.arange(n)[::-1]
    ax.barh(y, np.nan_to_num(vals), color=_colors(1)[0], height=0.7)
    if ci is not None:
        lo = np.array([vals[i] - _num(c[0]) if c is not None else np.nan for i, c in enumerate(ci)])
        hi = np.array([_num(c[1]) - vals[i] if c is not None else np.nan for i, c in enumerate(ci)])
        ok = ~(np.isnan(lo) | np.isnan(hi) | np.isnan(vals))
        if ok.any():
            ax.errorbar(vals[ok], y[ok], xerr=np.vstack([np.maximum(lo[ok], 0), np.maximum(hi[ok], 0)]),
                        fmt="none", ecolor="black", capsize=3, lw=1)
    top = np.nanmax(vals) if n and not np.isnan(vals).all() else 1.0
    ends = np.nan_to_num(vals).copy()
    if ci is not None:  # write the value right of its error bar
        for i, c in enumerate(ci):
            if c is not None and not np.isnan(_num(c[1])):
                ends[i] = max(ends[i], _num(c[1]))
    for yi, v, end in zip(y, vals, ends):
        ax.text(end + 0.01 * max(top, 1e-9), yi, "—" if np.isnan(v) else f"{v:.3f}", va="center", fontsize=7)
    ax.set_yticks(y, labels=list(names), fontsize=8)
    ax.set_xlabel(metric)
    if 0 <= np.nanmin(np.append(vals, 0)) and top <= 1.0:
        ax.set_xlim(0, 1.12)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or f"model comparison: {metric}")
    return fig


def plot_comparison(names: Sequence[str], values: Sequence[float | None], out: str | Path,
                    metric: str = "accuracy", ci: Sequence[tuple[float, float] | None] | None = None,
                    title: str | None = None, size: tuple[float, float] | None = None, dpi: int = DPI) -> Path:
    return save_png(comparison_figure(names, values, metric, ci, title, size), out, dpi)


# --------------------------------------------------------------------------- per-genre sheet
def genre_sheet_figure(
    clips: Mapping[str, str | Path | tuple[np.ndarray, int]],
    sr: int = 22050,
    seconds: float | None = 30.0,
    n_mels: int = 128,
    n_mfcc: int = 20,
    n_fft: int = 2048,
    hop_length: int = 512,
    size: tuple[float, float] | None = None,
    standardize_mfcc: bool = True,
) -> Figure:
    """One row per genre: waveform, log-mel spectrogram (dB) and MFCCs of one clip (Sears, figures 1-3).

    ``clips`` maps a genre to an audio path (decoded with :func:`genrelab.audio.load`, mono, resampled
    to ``sr``, first ``seconds``) or to ``(y, sr)``. ``size`` defaults to 13 x (2.1 per genre + 0.6) inches.
    ``standardize_mfcc`` z-scores each coefficient over time for display (raw values with False).
    """
    import librosa
    import librosa.display

    from genrelab import audio

    genres = list(clips)
    if size is None:
        size = (13.0, 2.1 * max(1, len(genres)) + 0.6)
    fig = _new_figure(size, layout=None)  # fixed margins: constrained layout is slow with many axes
    w_in, h_in = size
    fig.subplots_adjust(left=0.7 / w_in, right=1 - 0.15 / w_in, bottom=0.5 / h_in, top=1 - 0.35 / h_in,
                        wspace=0.22, hspace=0.38)
    axes = fig.subplots(max(1, len(genres)), 3, squeeze=False)
    for r, genre in enumerate(genres):
        src = clips[genre]
        if isinstance(src, tuple):
            y, clip_sr = np.asarray(src[0], dtype=np.float32), int(src[1])
            if y.ndim == 2:
                y = y.mean(axis=0)
            if clip_sr != sr:
                y = audio.resample(y, clip_sr, sr)
        else:
            y, _ = audio.load(src, sr=sr, mono=True, duration=seconds)
        if seconds is not None:
            y = y[: int(seconds * sr)]
        t = np.arange(y.size) / sr
        ax_w, ax_m, ax_c = axes[r]
        step = max(1, y.size // 20000)  # thin the waveform for drawing
        ax_w.plot(t[::step], y[::step], lw=0.4, color="#1f77b4")
        ax_w.set_xlim(0, max(t[-1] if t.size else 1.0, 1e-3))
        ax_w.set_ylabel(genre, fontsize=10, fontweight="bold")
        mel = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        mel_db = librosa.power_to_db(mel, ref=np.max)
        librosa.display.specshow(mel_db, sr=sr, hop_length=hop_length, x_axis="time", y_axis="mel", ax=ax_m,
                                 cmap="magma")
        mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), sr=sr, n_mfcc=n_mfcc)
        if standardize_mfcc:  # otherwise MFCC 0 (loudness) swamps the colour scale
            mfcc = (mfcc - mfcc.mean(axis=1, keepdims=True)) / (mfcc.std(axis=1, keepdims=True) + 1e-8)
        librosa.display.specshow(mfcc, sr=sr, hop_length=hop_length, x_axis="time", ax=ax_c, cmap="coolwarm")
        ax_c.set_ylabel("coefficient")
        ax_c.set_yticks([0.5, n_mfcc - 0.5], labels=["0", str(n_mfcc - 1)])
        for ax in (ax_w, ax_m, ax_c):
            ax.tick_params(labelsize=7)
            ax.set_xlabel("time (s)" if r == len(genres) - 1 else "", fontsize=8)
        if r == 0:
            ax_w.set_title("waveform")
            ax_m.set_title(f"mel spectrogram ({n_mels} bands, dB)")
            ax_c.set_title(f"MFCC ({n_mfcc}" + (", standardised per coefficient)" if standardize_mfcc else ")"))
    return fig


def plot_genre_sheet(clips: Mapping[str, Any], out: str | Path, sr: int = 22050, seconds: float | None = 30.0,
                     n_mels: int = 128, n_mfcc: int = 20, size: tuple[float, float] | None = None,
                     dpi: int = DPI, standardize_mfcc: bool = True) -> Path:
    return save_png(genre_sheet_figure(clips, sr, seconds, n_mels, n_mfcc, size=size,
                                       standardize_mfcc=standardize_mfcc), out, dpi)


# --------------------------------------------------------------------------- helpers
def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return x if math.isfinite(x) else float("nan")


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
