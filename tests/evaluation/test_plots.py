"""Every plot draws what it shows (lines and their labels, bars and their heights, cell counts, texts) and
writes a PNG of the expected pixel size (synthetic data only)."""

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
    fig = plots.history_figure(hist, title="run")
    loss_ax, acc_ax = fig.axes
    assert (loss_ax.get_title(), acc_ax.get_title(), fig.get_suptitle()) == ("loss", "accuracy", "run")
    for ax, col in ((loss_ax, "loss"), (acc_ax, "acc")):
        train, val = ax.get_lines()
        assert (train.get_label(), val.get_label()) == ("train", "validation")
        assert train.get_xdata().tolist() == list(range(1, 12))
        assert val.get_xdata().tolist() == list(range(1, 11))  # the empty cell is a gap
        assert train.get_ydata().tolist() == pytest.approx(h[f"train_{col}"].tolist())
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "validation"]


def test_history_test_curve_is_labelled_and_not_validation():
    rows = [{"epoch": e, "train_loss": 1 / e, "train_acc": e / 10, "test_loss": 1.2 / e, "test_acc": e / 12}
            for e in range(1, 6)]
    assert plots.has_curves(rows) and not plots.has_curves([]) and not plots.has_curves({"epoch": [1, 2]})
    fig = plots.history_figure(rows)
    for ax in fig.axes:
        assert [line.get_label() for line in ax.get_lines()] == ["train", plots.TEST_CURVE_LABEL]
    assert plots.TEST_CURVE_LABEL == "test (reported by the study; not used for selection)"
    assert fig.axes[1].get_lines()[1].get_ydata().tolist() == pytest.approx([e / 12 for e in range(1, 6)])


def test_overlay_draws_one_line_per_run():
    series = {"bs 4": {"val_acc": [0.1, 0.2, 0.3]}, "bs 16": [{"epoch": 1, "val_acc": 0.5}],
              "no column": {"train_acc": [0.9]}}
    fig = plots.overlay_figure(series, "val_acc", title="Fig. 5", ylabel="validation accuracy")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["bs 4", "bs 16"]
    assert ax.get_lines()[0].get_ydata().tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert (ax.get_title(), ax.get_ylabel()) == ("Fig. 5", "validation accuracy")


def test_history_with_missing_columns(tmp_path):
    out = plots.plot_history({"train_loss": [1.0, 0.5, 0.3]}, tmp_path / "loss_only.png", size=(6, 3))
    _check_png(out, (6, 3))
    loss_ax, acc_ax = plots.history_figure({"train_loss": [1.0, 0.5, 0.3]}).axes
    assert [line.get_label() for line in loss_ax.get_lines()] == ["train"]
    assert loss_ax.get_lines()[0].get_xdata().tolist() == [1, 2, 3]  # epochs numbered when not given
    assert not acc_ax.get_lines() and [t.get_text() for t in acc_ax.texts] == ["no data"]


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_heatmap(tmp_path, normalize):
    cm = np.array([[5, 1, 0, 0], [0, 4, 2, 0], [1, 0, 3, 0], [0, 0, 0, 0]])
    out = plots.plot_confusion(cm, GENRES, tmp_path / f"cm_{normalize}.png", normalize=normalize, size=(5, 4))
    _check_png(out, (5, 4))
    fig = plots.confusion_figure(cm, GENRES, normalize=normalize)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    if normalize:
        rows = cm.sum(axis=1, keepdims=True)
        want = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
        assert texts == [f"{v:.2f}" for v in want.ravel()]
    else:
        assert texts == [str(v) for v in cm.ravel()]  # the counts in the cells
    np.testing.assert_allclose(np.asarray(ax.get_images()[0].get_array()), want if normalize else cm)
    assert [t.get_text() for t in ax.get_xticklabels()] == GENRES
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
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
    ax = plots.per_genre_recall_figure(recalls, GENRES).axes[0]
    assert len(ax.patches) == 3 * 4  # one bar per model and genre
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.5, 0.9, 0.6, 0.8, 0.6, 0.95, 0.55, 0.7, 0.4, 0, 0, 0])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cnn", "crnn", "partial"]
    assert [t.get_text() for t in ax.get_xticklabels()] == GENRES


def test_model_comparison_with_and_without_ci(tmp_path):
    names = ["mlp", "cnn", "svm", "missing"]
    vals = [0.61, 0.72, 0.55, None]
    ci = [(0.55, 0.67), (0.66, 0.78), None, None]
    out = plots.plot_comparison(names, vals, tmp_path / "cmp.png", ci=ci, size=(7, 3))
    _check_png(out, (7, 3))
    ax = plots.comparison_figure(names, vals, ci=ci).axes[0]
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.61, 0.72, 0.55, 0.0])
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert [t.get_text() for t in ax.texts] == ["0.610", "0.720", "0.550", "—"]  # a missing value is "—"
    (err,) = ax.collections  # the CI error bars: one segment per run with an interval
    assert len(err.get_segments()) == 2
    out2 = plots.plot_comparison(names[:3], [12.0, 40.0, 3.0], tmp_path / "time.png", metric="train_time_s")
    _check_png(out2, (8.0, max(2.5, 0.35 * 3 + 1.2)))


def test_genre_sheet_from_files_and_arrays(tmp_path, write_wav, tone):
    clips = {
        "hightone": write_wav("high.wav", tone(1760, seconds=1.2, sr=16000), sr=16000),  # decoded + resampled
        "noise": (0.2 * np.random.default_rng(0).standard_normal(22050).astype(np.float32), 22050),
    }
    out = plots.plot_genre_sheet(clips, tmp_path / "sheet.png", seconds=1.0, n_mels=32, n_mfcc=13, dpi=30)
    _check_png(out, (13.0, 2.1 * 2 + 0.6), 30)
    fig = plots.genre_sheet_figure(clips, seconds=1.0, n_mels=32, n_mfcc=13)
    axes = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    assert len(axes) == 6
    assert [a.get_ylabel() for a in axes[::3]] == ["hightone", "noise"]
    assert [a.get_title() for a in axes[:3]] == ["waveform", "mel spectrogram (32 bands, dB)",
                                                 "MFCC (13, standardised per coefficient)"]
    wave = axes[0].get_lines()[0].get_ydata()
    assert wave.size > 0 and np.abs(wave).max() > 0.1  # the tone is drawn
    assert axes[1].collections and axes[2].collections  # spectrogram and MFCC images


def test_png_bytes_is_png():
    fig = plots.comparison_figure(["a"], [0.5])
    assert plots.png_bytes(fig, dpi=30)[:8] == PNG_MAGIC
