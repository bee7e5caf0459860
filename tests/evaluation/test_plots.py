"""Every plot writes a non-empty PNG of the expected pixel size (synthetic data only)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from genrelab.evaluation import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GENRES = ["blues", "classical", "jazz", "metal"]


def _check_png(path, size, dpi=plots.DPI):
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as im:
        assert im.size == (round(size[0] * dpi), round(size[1] * dpi))


def test_history_curves_from_csv(tmp_path):
    hist = tmp_path / "history.csv"
    with open(hist, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "train_loss", "val_loss", "train_acc", "val_acc", "lr"])
        for e in range(1, 11):
            w.writerow([e, 2 / e, 2.2 / e + 0.1, 1 - 0.5 / e, 0.9 - 0.5 / e, 1e-3])
        w.writerow([11, 0.15, "", 0.97, ""])  # a missing validation value is a gap, not a crash
    out = plots.plot_history(hist, tmp_path / "curves.png", title="run", size=(8, 3), dpi=50)
    _check_png(out, (8, 3), 50)
    h = plots.read_history(hist)
    assert h["epoch"].tolist()[-1] == 11 and np.isnan(h["val_loss"][-1])


def test_history_with_missing_columns(tmp_path):
    out = plots.plot_history({"train_loss": [1.0, 0.5, 0.3]}, tmp_path / "loss_only.png", size=(6, 3))
    _check_png(out, (6, 3))


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_heatmap(tmp_path, normalize):
    cm = np.array([[5, 1, 0, 0], [0, 4, 2, 0], [1, 0, 3, 0], [0, 0, 0, 0]])
    out = plots.plot_confusion(cm, GENRES, tmp_path / f"cm_{normalize}.png", normalize=normalize, size=(5, 4))
    _check_png(out, (5, 4))
    with pytest.raises(ValueError):
        plots.confusion_figure(cm, GENRES[:3])


def test_per_genre_recall_bars(tmp_path):
    recalls = {
        "cnn": {"blues": 0.5, "classical": 0.9, "jazz": 0.6, "metal": 0.8},
        "crnn": [0.6, 0.95, 0.55, 0.7],
        "partial": {"blues": 0.4},  # missing genres are drawn as 0-height bars
    }
    out = plots.plot_per_genre_recall(recalls, tmp_path / "recall.png", labels=GENRES, size=(9, 4))
    _check_png(out, (9, 4))


def test_model_comparison_with_and_without_ci(tmp_path):
    names = ["mlp", "cnn", "svm", "missing"]
    vals = [0.61, 0.72, 0.55, None]
    ci = [(0.55, 0.67), (0.66, 0.78), None, None]
    out = plots.plot_comparison(names, vals, tmp_path / "cmp.png", ci=ci, size=(7, 3))
    _check_png(out, (7, 3))
    out2 = plots.plot_comparison(names[:3], [12.0, 40.0, 3.0], tmp_path / "time.png", metric="train_time_s")
    _check_png(out2, (8.0, max(2.5, 0.35 * 3 + 1.2)))


def test_genre_sheet_from_files_and_arrays(tmp_path, write_wav, tone):
    clips = {
        "hightone": write_wav("high.wav", tone(1760, seconds=1.2, sr=16000), sr=16000),  # decoded + resampled
        "noise": (0.2 * np.random.default_rng(0).standard_normal(22050).astype(np.float32), 22050),
    }
    out = plots.plot_genre_sheet(clips, tmp_path / "sheet.png", seconds=1.0, n_mels=32, n_mfcc=13, dpi=30)
    _check_png(out, (13.0, 2.1 * 2 + 0.6), 30)


def test_png_bytes_is_png():
    fig = plots.comparison_figure(["a"], [0.5])
    assert plots.png_bytes(fig, dpi=30)[:8] == PNG_MAGIC
