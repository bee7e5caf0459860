"""Study report layouts over small fabricated run directories (written through the real record writer):
each study's own rows and columns, the curves and overlays drawn, confusion counts, no history panel for
scikit-learn runs, PNG files beside the HTML, escaped run names, the ``--study`` CLI."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from genrelab import reports
from genrelab.evaluation.metrics import compute_metrics
from genrelab.evaluation.plots import TEST_CURVE_LABEL
from genrelab.evaluation.record import RunRecord, part_scores, write_record

GENRES = ["blues", "classical", "jazz"]


def _history(n: int, parts=("train", "val")) -> list[dict]:
    rows = []
    for e in range(1, n + 1):
        row = {"epoch": e}
        for k, p in enumerate(parts):
            row[f"{p}_loss"] = 1.5 / e + 0.1 * k
            row[f"{p}_acc"] = 0.4 + e / 20 - 0.02 * k
        rows.append(row)
    return rows


def _run(root: Path, name: str, *, model: str, acc: float = 0.7, leaky: bool = True, seed: int = 0,
         model_args: dict | None = None, history: list[dict] | None = None, config: dict | None = None,
         level: str = "track", valid: float | None = None, train: float | None = None,
         labels: list[str] = GENRES, **fields) -> Path:
    """One run directory: metrics from the real metric functions, the record through ``write_record``,
    config.json as the trainer writes it (``{"train": ...}``) and history.csv when ``history`` is given."""
    rng = np.random.default_rng(seed)
    n = 30
    y = np.arange(n) % 3
    pred = np.where(rng.random(n) < acc, y, (y + 1) % 3)
    m = compute_metrics(y, pred, labels=labels)
    scores = {"test": part_scores(m)}
    for part, a in (("train", train), ("valid", valid)):
        if a is not None:
            scores[part] = part_scores(compute_metrics(y, np.where(rng.random(n) < a, y, (y + 2) % 3),
                                                       labels=GENRES))
    rec = RunRecord.from_metrics(m, run=name, model=model, level=level,
                                 split={"method": "random-segment" if leaky else "artist", "leaky": leaky},
                                 scores=scores, history=tuple(history or ()), **fields)
    d = root / name
    write_record(d, rec)
    cfg = {"model": model, "model_args": model_args or {}, **(config or {})}
    (d / "config.json").write_text(json.dumps({"train": cfg, "data_summary": {}}))
    if history:
        cols = list(history[0])
        with open(d / "history.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(history)
    return d


def _tables(layout: str, root: Path) -> list:
    records, skipped = reports.load_runs([root])
    assert not skipped
    return reports.study_tables(reports.get_layout(layout), records)


def _one(tables, id_: str, protocol: str = "LEAKY"):
    found = [t for t in tables if t.id == id_ and protocol in t.protocol]
    assert len(found) == 1, [t.caption for t in tables]
    return found[0]


# --------------------------------------------------------------------------- Sears
@pytest.fixture
def sears_runs(tmp_path) -> Path:
    root = tmp_path / "sears"
    test_curve = _history(4, ("train", "test"))  # no validation part in the study: train and test curves
    _run(root, "study/t1-mlp-sigmoid_h512", model="saintfelix-mlp", acc=0.6, level="segment",
         model_args={"hidden": [512], "activation": "sigmoid"}, optimizer="rmsprop", epochs=200)
    _run(root, "study/t1-mlp-sigmoid_h512-256-128", model="saintfelix-mlp", acc=0.8, level="segment", seed=1,
         model_args={"hidden": [512, 256, 128], "activation": "sigmoid"}, optimizer="rmsprop", epochs=200,
         levels={"track": {"level": "track", "aggregation": "mean", "accuracy": 0.9}})
    _run(root, "study/t2-mlp-relu_h512-256", model="saintfelix-mlp", acc=0.75, seed=2, level="segment",
         model_args={"hidden": [512, 256]}, optimizer="rmsprop", epochs=50, history=test_curve)
    _run(root, "leakfree/t2-mlp-relu_h512-256", model="saintfelix-mlp", acc=0.5, leaky=False, seed=3,
         model_args={"hidden": [512, 256]}, optimizer="rmsprop", epochs=50, history=test_curve)
    _run(root, "study/t6-cnn01.7", model="saintfelix-cnn", model_args={"blocks": 1}, optimizer="rmsprop",
         epochs=50, labels=[*GENRES, "rock"])  # no rock clip in the test part
    return root


def test_sears_tables_have_the_study_rows_and_columns(sears_runs):
    tables = _tables("sears", sears_runs)
    t1 = _one(tables, "Table 1")
    assert t1.headers == ["Run", "Hidden layers", "Nodes", "Activation", "Optimiser", "Epochs", "Accuracy %",
                          "Clip accuracy %", "Pretrained"]
    assert [r[:6] for r in t1.rows] == [["t1-mlp-sigmoid_h512", "1", "512", "sigmoid", "rmsprop", "200"],
                                        ["t1-mlp-sigmoid_h512-256-128", "3", "512-256-128", "sigmoid", "rmsprop",
                                         "200"]]
    assert t1.rows[1][7] == "90.0" and t1.rows[0][7] == "—" and t1.rows[0][8] == "—"
    t2 = _one(tables, "Table 2")
    assert t2.rows[0][3] == "relu"  # the layout's default: the config does not say
    # one table per protocol: the leaky study split and the leak-free one never share a table
    assert _one(tables, "Table 2", "leak-free").runs == ["t2-mlp-relu_h512-256"]
    genre = _one(tables, "Table 2 (per genre)")
    assert genre.headers == ["Genre", "Test Samples", "t2-mlp-relu_h512-256 %"]
    assert [r[:2] for r in genre.rows] == [["blues", "10"], ["classical", "10"], ["jazz", "10"]]
    t6 = _one(tables, "Table 6")
    assert t6.headers[:2] == ["Run", "Conv blocks"] and t6.rows[0][1] == "1"
    rock = _one(tables, "Table 6 (per genre)").rows[-1]
    assert rock == ["rock", "0", "—"]  # a genre absent from the test part has no accuracy
    assert not [t for t in tables if t.id in ("Table 3", "Table 4", "Table 5", "Table 7")]  # no runs, no table
    md = reports.tables_markdown(reports.get_layout("sears"), tables)
    assert "| Run | Hidden layers | Nodes | Activation |" in md and "### Table 2 (per genre)" in md


def test_sears_curves_show_the_test_curve_labelled(sears_runs):
    records, _ = reports.load_runs([sears_runs])
    figs = reports.study_figures(reports.get_layout("sears"), records)
    fig6 = [f for f in figs if f.id == "Fig. 6"]  # Table 2's runs, one per protocol
    assert len(fig6) == 2
    loss_ax, acc_ax = fig6[0].figure.axes
    for ax in (loss_ax, acc_ax):
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels == ["train", TEST_CURVE_LABEL]
        assert ax.get_lines()[1].get_linestyle() == ":"
        assert len(ax.get_lines()[0].get_xdata()) == 4
    assert acc_ax.get_lines()[0].get_ydata().tolist() == pytest.approx([0.4 + e / 20 for e in range(1, 5)])
    assert not [f for f in figs if f.id == "Fig. 5"]  # Table 1's runs have no history: nothing drawn


# --------------------------------------------------------------------------- Liu
@pytest.fixture
def liu_runs(tmp_path) -> Path:
    root = tmp_path / "liu"
    for i, bs in enumerate((4, 16)):
        _run(root, f"study/t1-dcrnn_batch_size{bs}", model="liu-dcrnn", batch_size=bs, optimizer="adam",
             scheduler="none", seed=i, valid=0.6, history=_history(3 + i))
    _run(root, "study/t1-cnn_batch_size64", model="liu-cnn", batch_size=64, optimizer="adam", seed=5, valid=0.5,
         history=_history(3))
    for i, (opt, sched) in enumerate((("adam", "none"), ("adam", "triangular"), ("sgd", "none"))):
        _run(root, f"study/t2-cnn_opt{opt}_clr{sched}", model="liu-cnn", optimizer=opt, scheduler=sched,
             batch_size=32, seed=10 + i, valid=0.55, history=_history(5))
    return root


def test_liu_tables(liu_runs):
    tables = _tables("liu", liu_runs)
    t1 = _one(tables, "Table 1")
    assert t1.headers == ["Model", "batch size 4", "batch size 16", "batch size 32", "batch size 64"]
    by_model = {r[0]: r[1:] for r in t1.rows}
    assert set(by_model) == {"liu-dcrnn", "liu-cnn"}
    assert by_model["liu-cnn"][:3] == ["—", "—", "—"] and by_model["liu-cnn"][3] != "—"
    assert by_model["liu-dcrnn"][2:] == ["—", "—"]
    t2 = _one(tables, "Table 2")
    assert t2.headers == ["Model", "Optimiser", "learning rate standard", "learning rate cyclic"]
    rows = {tuple(r[:2]): r[2:] for r in t2.rows}
    assert rows[("liu-cnn", "sgd")][1] == "—" and rows[("liu-cnn", "adam")][1] != "—"
    t3 = _one(tables, "Table 3")
    i_val = t3.headers.index("Validation accuracy %")
    records, _ = reports.load_runs([liu_runs])
    want = {reports.RunRecord.from_dir(r.path).name.rsplit("/", 1)[-1]:
            f"{100 * r.raw['scores']['valid']['accuracy']:.1f}" for r in records}
    assert {row[0]: row[i_val] for row in t3.rows} == want
    assert len(t3.rows) == 6


def test_liu_overlays(liu_runs, tmp_path):
    records, _ = reports.load_runs([liu_runs])
    figs = {f.id: f for f in reports.study_figures(reports.get_layout("liu"), records)}
    (ax,) = figs["Fig. 5"].figure.axes
    assert [line.get_label() for line in ax.get_lines()] == ["batch size 4", "batch size 16"]
    assert [len(line.get_xdata()) for line in ax.get_lines()] == [3, 4]
    assert ax.get_ylabel() == "validation accuracy"
    (ax6,) = figs["Fig. 6"].figure.axes  # one model (liu-cnn); the cyclic-lr run is left out
    assert sorted(line.get_label() for line in ax6.get_lines()) == ["optimizer adam", "optimizer sgd"]
    assert "liu-cnn" in ax6.get_title() and ax6.get_ylabel() == "training accuracy"
    # runs without the column (no validation part) draw no overlay at all, not an empty one
    no_val = tmp_path / "liu_noval"
    _run(no_val, "study/t1-dcrnn_batch_size4", model="liu-dcrnn", batch_size=4, history=_history(2, ("train",)))
    records, _ = reports.load_runs([no_val])
    assert [f.id for f in reports.study_figures(reports.get_layout("liu"), records)] == []


# --------------------------------------------------------------------------- Sirek, Qin, Hoang
def test_sirek_train_and_validation_columns(tmp_path):
    root = tmp_path / "sirek"
    _run(root, "study/cnn3", model="sirek-cnn3", train=0.95, valid=0.7)
    _run(root, "study/vgg11", model="sirek-vgg11", train=0.9, valid=0.8, config={"pretrained": True})
    tables = _tables("sirek", root)
    t32 = _one(tables, "Table 3.2")
    assert t32.headers == ["Model", "Pretrained", "Train accuracy %", "Train precision %", "Train recall %",
                           "Train F1 %", "Validation accuracy %", "Validation precision %", "Validation recall %",
                           "Validation F1 %"]
    rec = reports.RunRecord.from_dir(root / "study" / "cnn3")
    sc = rec.raw["scores"]
    assert t32.rows == [["sirek-cnn3", "—"] + [f"{100 * sc[p][k]:.1f}" for p in ("train", "valid")
                                               for k in ("accuracy", "precision_macro", "recall_macro", "f1_macro")]]
    assert _one(tables, "Table 3.4").rows[0][:2] == ["sirek-vgg11", "yes"]
    assert not [t for t in tables if t.id == "Table 3.3"]
    # the comparison tables have the pretrained column too (from the config; "—" when it does not say)
    records, _ = reports.load_runs([root])
    md = reports.to_markdown(records).splitlines()
    header = next(line for line in md if line.startswith("| Run"))
    i = header.strip("|").split("|").index(" Pretrained ")
    cells = {line.split("|")[1].strip(): line.strip("|").split("|")[i].strip() for line in md
             if line.startswith("| study/")}
    assert cells == {"study/vgg11": "yes", "study/cnn3": "—"}
    csv_rows = {r["run"]: r["pretrained"] for r in csv.DictReader(reports.to_csv(records).splitlines())}
    assert csv_rows == {"study/vgg11": "true", "study/cnn3": ""}


def test_qin_grid_tables(tmp_path):
    root = tmp_path / "qin"
    for i, lr in enumerate((1e-5, 8e-5)):
        _run(root, f"study/mlp_lr{lr:g}", model="qin-mlp", lr=lr, seed=i, epochs=100)
    _run(root, "study/mlp-improved_lr1e-05", model="qin-mlp", lr=1e-5, seed=3)
    _run(root, "study/lstm_lr8e-05_h64_l2", model="qin-lstm", lr=8e-5, model_args={"hidden_size": 64,
                                                                                    "num_layers": 2})
    tables = _tables("qin", root)
    mlp = _one(tables, "MLP")
    assert [r[:2] for r in mlp.rows] == [["mlp_lr1e-05", "1e-05"], ["mlp_lr8e-05", "8e-05"]]
    assert _one(tables, "MLP (improved)").runs == ["mlp-improved_lr1e-05"]
    lstm = _one(tables, "LSTM")
    assert lstm.headers[:4] == ["Run", "LR", "Nodes", "Layers"] and lstm.rows[0][1:4] == ["8e-05", "64", "2"]


def test_sklearn_runs_have_no_history_panel_and_confusion_shows_counts(tmp_path):
    root = tmp_path / "hoang"
    _run(root, "study/cnn1d", model="bian-cnn1d", history=_history(3))
    _run(root, "study/cnn1d-svm", model="bian-cnn1d-svm")  # scikit-learn: no history
    records, _ = reports.load_runs([root])
    by = {r.name.rsplit("/", 1)[-1]: r for r in records}
    assert [k for k, _ in reports.run_figures(by["cnn1d-svm"])] == ["confusion"]
    figs = dict(reports.run_figures(by["cnn1d"]))
    assert set(figs) == {"confusion", "history"}
    cm = np.asarray(by["cnn1d"].metrics["confusion_matrix"])
    ax = figs["confusion"].axes[0]
    assert [t.get_text() for t in ax.texts] == [str(int(v)) for v in cm.ravel()]
    assert "counts" in ax.get_title()
    hoang = _one(_tables("hoang", root), "Results")
    assert hoang.headers == ["Run", "Model", "Accuracy %", "Precision %", "Recall %", "Pretrained"]
    assert len(hoang.rows) == 2


def test_a_leak_free_study_split_keeps_its_own_table(tmp_path):
    """Hoang's study split (FMA's official one) is leak-free: it still does not share a table with ours."""
    root = tmp_path / "hoang"
    _run(root, "study/bigru", model="feng-bigru", leaky=False, acc=0.6)
    _run(root, "leakfree/bigru", model="feng-bigru", leaky=False, acc=0.4, seed=1)
    tables = _tables("hoang", root)
    assert [t.protocol for t in tables] == ["study protocol (leak-free split)", "leak-free split"]
    assert [len(t.rows) for t in tables] == [1, 1]


# --------------------------------------------------------------------------- files, HTML, CLI
def test_report_writes_pngs_beside_the_html_and_escapes_names(liu_runs, tmp_path):
    evil = "t1-cnn_<script>alert(1)</script>&"
    d = _run(liu_runs, "study/evil", model="liu-cnn", batch_size=4, history=_history(2))
    rec = RunRecord.from_dict(json.loads((d / "metrics.json").read_text())).replace(run=f"study/{evil}")
    write_record(d, rec)
    out = tmp_path / "report"
    written = reports.write_report([liu_runs], out, study="liu", formats=["html", "md"])
    page = written["html"].read_text()
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert srcs and not any(s.startswith("data:") for s in srcs)
    assert all((out / s).is_file() and (out / s).read_bytes()[:4] == b"\x89PNG" for s in srcs)
    assert sorted(p.name for p in out.glob("*.png")) == sorted(srcs)
    assert any(s.startswith("liu-fig.-5") for s in srcs) and any("confusion" in s for s in srcs)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in page
    assert "Table 1: Test accuracy % by model and batch size" in page and "Pretrained" in page
    md = written["md"].read_text()
    assert "### Table 2: " in md and "| Model | Optimiser | learning rate standard | learning rate cyclic |" in md


def test_cli_study_option(liu_runs, tmp_path):
    import typer
    from typer.testing import CliRunner

    from genrelab.cli import report as report_cli

    app = typer.Typer()
    report_cli.register(app)

    @app.command("noop")
    def _noop() -> None:
        pass

    runner = CliRunner()
    res = runner.invoke(app, ["report", str(liu_runs), "--out", str(tmp_path / "r"), "--study", "liu",
                              "--no-plots", "--format", "md"])
    assert res.exit_code == 0, res.output
    assert "### Table 1: Test accuracy % by model and batch size — study protocol (LEAKY split)" in res.output
    assert "| Model | batch size 4 | batch size 16 | batch size 32 | batch size 64 |" in res.output
    bad = runner.invoke(app, ["report", str(liu_runs), "--out", str(tmp_path / "x"), "--study", "nosuch"])
    assert bad.exit_code != 0 and "sears" in bad.output
