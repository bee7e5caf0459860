"""Reports over fake run directories: Markdown contents, CSV columns, the self-contained HTML page, sorting, CLI."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from genrelab import reports
from genrelab.evaluation.metrics import bootstrap_ci, compute_metrics
from genrelab.evaluation.record import make_record, write_metrics_json

GENRES = ["blues", "classical", "jazz"]


def _fake_run(root: Path, name: str, acc: float, *, leaky: bool | None = False, level: str = "track",
              model: str = "qin_mlp", optimizer: str | None = "adam", history: bool = True, n: int = 60,
              seed: int = 0, **fields) -> Path:
    """A run directory with a metrics.json built by the real metric functions (accuracy close to ``acc``)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    pred = np.where(rng.random(n) < acc, y, (y + 1) % 3)
    m = compute_metrics(y, pred, labels=GENRES)
    rec = make_record(m, model=model, level=level, aggregation="mean" if level == "track" else None,
                      split_method="random-segment" if leaky else "artist-filtered", leaky=leaky,
                      ci={"accuracy": bootstrap_ci(y, pred, n_boot=200)},
                      optimizer=optimizer, epochs=5, train_time_s=12.5 + acc, n_params=1000 + int(acc * 100), **fields)
    d = root / name
    write_metrics_json(d, rec)
    if history:
        with open(d / "history.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch", "train_loss", "val_loss", "train_acc", "val_acc"])
            for e in range(1, 6):
                w.writerow([e, 1.5 / e, 1.6 / e, 0.5 + e / 20, 0.45 + e / 25])
    return d


@pytest.fixture
def runs(tmp_path) -> Path:
    root = tmp_path / "runs"
    _fake_run(root, "mlp_lr1e-4", 0.80, seed=1)
    _fake_run(root / "sweep", "mlp_lr1e-5", 0.55, seed=2, history=False)
    _fake_run(root / "sweep", "cnn_leaky", 0.95, leaky=True, level="segment", model="sears_cnn",
              optimizer="rmsprop", seed=3)
    # a minimal run: only a model name and an accuracy, nothing else
    (root / "bare").mkdir(parents=True)
    (root / "bare" / "metrics.json").write_text(json.dumps({"model": "svm", "metrics": {"accuracy": 0.6}}))
    # a run whose config supplies what metrics.json lacks
    (root / "cfg").mkdir()
    (root / "cfg" / "metrics.json").write_text(json.dumps(
        {"metrics": {"accuracy": 0.7}, "split": {"method": "artist-filtered", "leaky": False}, "level": "track"}))
    (root / "cfg" / "config.json").write_text(json.dumps(
        {"model": {"name": "hoang_cnn1d", "args": {}}, "train": {"optimizer": {"name": "sgd"}, "epochs": 7}}))
    # a sub-folder of a run is part of it, not another run
    (root / "mlp_lr1e-4" / "fold0").mkdir()
    (root / "mlp_lr1e-4" / "fold0" / "metrics.json").write_text("{}")
    # a broken file is reported, not a crash
    (root / "broken").mkdir()
    (root / "broken" / "metrics.json").write_text("{not json")
    return root


def test_run_record_from_dir(runs):
    r = reports.RunRecord.from_dir(runs / "mlp_lr1e-4")
    assert (r.model, r.optimizer, r.epochs, r.level, r.aggregation, r.leaky) == ("qin_mlp", "adam", 5, "track",
                                                                                 "mean", False)
    assert r.split_label == "leak-free (artist-filtered)" and r.level_label == "track (mean of segments)"
    assert r.history_path is not None and r.labels == GENRES
    lo, hi = r.accuracy_ci()
    assert lo <= r.value("accuracy") <= hi
    assert set(r.per_genre_recall()) == set(GENRES)
    cfg = reports.RunRecord.from_dir(runs / "cfg")
    assert (cfg.model, cfg.optimizer, cfg.epochs) == ("hoang_cnn1d", "sgd", 7)
    bare = reports.RunRecord.from_dir(runs / "bare")
    assert bare.leaky is None and bare.split_label == "unknown" and bare.value("f1") is None


def test_discovery_skips_run_subfolders_and_reports_broken(runs):
    dirs = reports.find_run_dirs([runs])
    names = sorted(d.name for d in dirs)
    assert names == ["bare", "broken", "cfg", "cnn_leaky", "mlp_lr1e-4", "mlp_lr1e-5"]
    records, skipped = reports.load_runs([runs])
    assert len(records) == 5 and [p.name for p, _ in skipped] == ["broken"]
    # a run directory or a metrics.json file may be given directly
    assert reports.find_run_dirs([runs / "cfg" / "metrics.json", runs / "cfg"]) == [runs / "cfg"]


def test_sorting(runs):
    records, _ = reports.load_runs([runs])
    acc = [r.name for r in reports.sort_records(records, "accuracy")]
    assert acc[0] == "cnn_leaky" and acc.index("mlp_lr1e-4") < acc.index("mlp_lr1e-5")
    by_f1 = reports.sort_records(records, "f1")
    assert [r.name for r in by_f1][-2:] in (["bare", "cfg"], ["cfg", "bare"])  # missing F1 last
    asc = reports.sort_records(records, "accuracy", descending=False)
    assert asc[0].value("accuracy") == min(r.value("accuracy") for r in records)
    models = [r.model for r in reports.sort_records(records, "model")]
    assert models == sorted(models, key=str.lower)
    t = reports.sort_records(records, "train_time_s")  # a cost: smallest first
    assert t[0].name == "mlp_lr1e-5"
    g = reports.sort_records(records, "recall[blues]")
    assert g[0].value("recall[blues]") == max(r.value("recall[blues]") for r in records if r.value("recall[blues]")
                                              is not None)
    assert reports.sort_records(records, "per_genre.jazz.f1")[0].value("per_genre.jazz.f1") is not None
    with pytest.raises(ValueError, match="unknown sort key"):
        reports.sort_records(records, "no_such_metric")


def test_markdown(runs):
    records, skipped = reports.load_runs([runs])
    md = reports.to_markdown(records, "accuracy", skipped=skipped)
    assert "## Leak-free split · track-level scores" in md
    assert "## LEAKY split" in md and "segment-level scores" in md
    assert "Warning" in md  # both leaky and leak-free runs present
    header = next(line for line in md.splitlines() if line.startswith("| Run"))
    for col in ("Model", "Optimiser", "Epochs", "Processing time", "Accuracy % (95% CI)", "Precision %",
                "Recall %", "F1 %", "Recall variance", "Recall blues %", "Parameters"):
        assert col in header
    rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| Run")]
    assert len(rows) == 5
    leakfree = md.split("## LEAKY")[0]
    assert leakfree.index("| mlp_lr1e-4 ") < leakfree.index("| mlp_lr1e-5 ")  # sorted by accuracy
    bare = next(line for line in rows if line.startswith("| bare "))
    assert "—" in bare and "60.0" in bare
    assert "broken" in md  # the skipped run is listed


def test_csv(runs):
    records, _ = reports.load_runs([runs])
    text = reports.to_csv(records, "accuracy")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 5
    cols = rows[0].keys()
    for c in ("run", "model", "optimizer", "epochs", "train_time_s", "split_method", "leaky", "level",
              "aggregation", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "precision_macro", "recall_macro",
              "f1_macro", "recall_variance", "n_params", "recall[blues]", "recall[jazz]"):
        assert c in cols
    by = {r["run"]: r for r in rows}
    assert by["cnn_leaky"]["leaky"] == "true" and by["mlp_lr1e-4"]["leaky"] == "false" and by["bare"]["leaky"] == ""
    assert by["bare"]["f1_macro"] == "" and float(by["bare"]["accuracy"]) == 0.6
    assert float(by["mlp_lr1e-4"]["accuracy_ci_low"]) <= float(by["mlp_lr1e-4"]["accuracy"])


def test_html_is_self_contained(runs):
    records, skipped = reports.load_runs([runs])
    page = reports.to_html(records, "accuracy", skipped=skipped, max_run_plots=1, dpi=40)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<tr>") == 5 + 3  # 5 runs + one header row per group (3 groups)
    assert "leak-free" in page.lower() and "LEAKY" in page and "segment-level" in page and "track-level" in page
    imgs = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) >= 6  # per group: accuracy bars, per-genre recall; per run: confusion, curves
    import base64

    assert all(base64.b64decode(b)[:4] == b"\x89PNG" for b in imgs)
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no external assets
    assert "<script>" in page and "sortable" in page
    assert 'data-v=""' in page  # missing values sort last in the browser too
    assert page.count("—") >= 3


def test_write_report_and_cli(runs, tmp_path):
    out = tmp_path / "report"
    written = reports.write_report([runs], out, sort="f1", formats=["md", "csv"])
    assert set(written) == {"md", "csv"} and all(p.stat().st_size > 0 for p in written.values())
    with pytest.raises(ValueError):
        reports.write_report([runs], out, formats=["pdf"])

    import typer
    from typer.testing import CliRunner

    from genrelab.cli import report as report_cli

    app = typer.Typer()
    report_cli.register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps typer in multi-command mode, as in the real CLI
        pass

    runner = CliRunner()
    res = runner.invoke(app, ["report", str(runs / "sweep"), str(runs / "bare"), "--out", str(out / "cli"),
                              "--sort", "recall_variance", "--format", "md,csv,html", "--no-plots"])
    assert res.exit_code == 0, res.output
    assert (out / "cli" / "report.html").is_file() and "3 run(s)" in res.output
    bad = runner.invoke(app, ["report", str(runs), "--out", str(out / "x"), "--sort", "nonsense"])
    assert bad.exit_code != 0
    empty = tmp_path / "empty"
    empty.mkdir()
    none = runner.invoke(app, ["report", str(empty), "--out", str(out / "y")])
    assert none.exit_code == 1


def test_reports_does_not_import_models():
    import subprocess

    code = ("import sys, genrelab.reports; "
            "sys.exit(1 if any(m.startswith('genrelab.models') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.browser
def test_html_table_sorts_in_a_browser(runs, tmp_path):
    """Click a header in headless Chromium: the rows re-sort, missing values stay last."""
    import shutil

    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By

    driver_path = shutil.which("chromedriver")
    if driver_path is None or not (shutil.which("chromium") or shutil.which("google-chrome")):
        pytest.skip("chromium/chromedriver not installed (make install-system)")
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu"):
        opts.add_argument(arg)
    written = reports.write_report([runs], tmp_path / "r", formats=["html"], plots=False)
    try:
        drv = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver_path))
    except Exception as exc:  # pragma: no cover - environment problem, not a report problem
        pytest.skip(f"cannot start chromium: {exc}")
    try:
        drv.get(written["html"].resolve().as_uri())
        table = drv.find_elements(By.CSS_SELECTOR, "table.sortable")[0]
        ths = table.find_elements(By.TAG_NAME, "th")
        i_run = [th.text for th in ths].index("Run")

        def runs_order():
            return [tr.find_elements(By.TAG_NAME, "td")[i_run].text
                    for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")]

        assert runs_order() == ["mlp_lr1e-4", "cfg", "mlp_lr1e-5"]  # accuracy, best first
        ths[i_run].click()
        assert runs_order() == ["cfg", "mlp_lr1e-4", "mlp_lr1e-5"]  # alphabetical
        ths[i_run].click()
        assert runs_order() == ["mlp_lr1e-5", "mlp_lr1e-4", "cfg"]
        i_f1 = [th.text for th in ths].index("F1 %")
        ths[i_f1].click()
        ths[i_f1].click()  # ascending: "cfg" has no F1 and must still be last
        assert runs_order()[-1] == "cfg"
    finally:
        drv.quit()


def test_levels_and_folds(tmp_path):
    from genrelab.evaluation.aggregate import evaluate_levels
    from genrelab.evaluation.metrics import fold_summary

    rng = np.random.default_rng(0)
    ids = np.repeat([f"t{i}" for i in range(12)], 5)
    y = np.repeat(np.arange(12) % 3, 5)
    proba = rng.dirichlet(np.ones(3), size=ids.size) + np.eye(3)[y] * 0.6
    proba /= proba.sum(axis=1, keepdims=True)
    levels = evaluate_levels(y, proba, ids, GENRES, n_boot=100)
    rec = make_record(levels["track"], model="sears_cnn", split_method="artist-grouped", leaky=False,
                      levels={k: v for k, v in levels.items() if k != "track"}, best_epoch=3, epochs=9)
    write_metrics_json(tmp_path / "seg_run", rec)
    folds = [compute_metrics(y[:30], p, labels=GENRES) for p in (y[:30], (y[:30] + 1) % 3)]
    write_metrics_json(tmp_path / "kfold_run", {"model": "svm", "split": {"method": "kfold", "leaky": False},
                                                "level": "track", "folds": fold_summary(folds)})

    records, _ = reports.load_runs([tmp_path], all_levels=True)
    by = {(r.name, r.level_label) for r in records}
    assert by == {("seg_run", "track (mean of segments)"), ("seg_run", "segment"),
                  ("seg_run", "track (majority vote)"), ("kfold_run", "track")}
    md = reports.to_markdown(records)
    assert "segment-level scores" in md and "track-level scores" in md
    assert "9 (best 3)" in md
    kf = next(r for r in records if r.name == "kfold_run")
    assert kf.value("accuracy") == pytest.approx(0.5) and kf.n_folds == 2
    assert "50.0 ± 70.7" in md  # mean ± sample std across the two folds (1.0 and 0.0)
    seg = next(r for r in records if r.level == "segment")
    assert seg.accuracy_ci() is not None and seg.model == "sears_cnn"
    only_primary, _ = reports.load_runs([tmp_path])
    assert len(only_primary) == 2
