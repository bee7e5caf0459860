import json

import numpy as np
import pandas as pd
import pytest

from tinymodels import blobs
from genrelab.experiments.recipe import parse_recipe
from genrelab.experiments.runner import run_recipe


@pytest.fixture
def table(tmp_path):
    """A Kaggle-like feature table: 3 genres x 12 clips, 8 feature columns."""
    X, y = blobs(n_per_class=12, n_classes=3, seed=3)
    genres = ["blues", "jazz", "rock"]
    rows = []
    count = {g: 0 for g in genres}
    for x, c in zip(X, y):
        g = genres[c]
        rows.append({"filename": f"{g}.{count[g]:05d}.wav", "length": 661794,
                     **{f"f{i}": float(v) for i, v in enumerate(x)}, "label": g})
        count[g] += 1
    p = tmp_path / "features_30_sec.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    return p


def recipe(table, runs):
    return parse_recipe({
        "name": "r",
        "data": {"dataset": "table", "root": str(table), "split": "stratified", "ratios": [0.6, 0.2, 0.2]},
        "defaults": {"epochs": 2, "batch_size": 8, "progress": False, "n_boot": 20,
                     "optim": {"optimizer": "adam", "lr": 0.01}},
        "runs": runs,
    })


def test_runner_skips_finished_and_continues_after_failure(table, tmp_path):
    rec = recipe(table, [
        {"name": "good", "model": "test-tiny-mlp"},
        {"name": "bad", "model": "test-tiny-mlp", "model_args": {"n_features": 3}},  # wrong input width -> fails
        {"name": "logreg", "model": "logreg"},
    ])
    out = tmp_path / "runs"
    res = run_recipe(rec, out=out, echo=None)
    status = {s.name: s.status for s in res.statuses}
    assert status == {"good": "done", "bad": "failed", "logreg": "done"}
    assert (out / "good/metrics.json").exists() and (out / "logreg/metrics.json").exists()
    assert (out / "bad/error.txt").exists() and "Traceback" in (out / "bad/error.txt").read_text()
    assert "FAILED bad" in res.summary_text()
    summary = json.loads((out / "summary.json").read_text())
    assert [r["status"] for r in summary["runs"]] == ["done", "failed", "done"]
    before = (out / "good/metrics.json").stat().st_mtime_ns
    res2 = run_recipe(rec, out=out, echo=None)
    status2 = {s.name: s.status for s in res2.statuses}
    assert status2 == {"good": "skipped", "bad": "failed", "logreg": "skipped"}
    assert (out / "good/metrics.json").stat().st_mtime_ns == before
    res3 = run_recipe(rec, out=out, only=["good"], force=True, echo=None)
    assert [s.status for s in res3.statuses] == ["done"]


def test_run_cli_reports_failures_with_exit_status(table, tmp_path):
    import yaml
    from typer.testing import CliRunner

    from genrelab.cli import app

    recipe_file = tmp_path / "tiny.yaml"
    recipe_file.write_text(yaml.safe_dump({
        "name": "tiny",
        "vars": {"table": "unused"},
        "data": {"dataset": "table", "root": str(table), "split": "stratified", "ratios": [0.6, 0.2, 0.2]},
        "defaults": {"epochs": 1, "batch_size": 8, "n_boot": 10},
        "runs": [{"name": "ok", "model": "logreg"},
                 {"name": "broken", "model": "test-tiny-mlp", "model_args": {"n_features": 3}}],
    }))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", str(recipe_file), "--out", str(out), "-q"])
    assert res.exit_code == 1, res.output
    assert "FAILED broken" in res.output and (out / "ok/metrics.json").exists()
    res = CliRunner().invoke(app, ["run", str(recipe_file), "--out", str(out), "-q", "--only", "ok"])
    assert res.exit_code == 0 and "skipped" in res.output
