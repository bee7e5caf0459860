"""``genrelab models``: the list, ``--info``, the Markdown table and the shipped-model hook."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from genrelab.cli import app

runner = CliRunner()


def test_list_shows_every_model_with_counts():
    res = runner.invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    for name in ("qin-mlp", "sirek-vgg11", "svm-rbf", "liu-dcrnn"):
        assert name in res.output
    assert "128,807,306" in res.output  # sirek-vgg11, 10 classes
    assert "(125, 13)" in res.output


def test_family_filter_json_and_classes():
    res = runner.invoke(app, ["models", "--family", "qin", "--json", "--classes", "16"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert {r["name"] for r in rows} == {"qin-mlp", "qin-lstm", "qin-resnet18"}
    assert {r["name"]: r["params"] for r in rows}["qin-mlp"] == 57 * 64 + 64 + 64 * 128 + 128 + 128 * 16 + 16
    assert runner.invoke(app, ["models", "--family", "nope"]).exit_code == 2


def test_info_prints_docstring_and_contract():
    res = runner.invoke(app, ["models", "--info", "sirek-cnn4-gru"])
    assert res.exit_code == 0, res.output
    assert "gru_over_batch" in res.output and "mini-batch" in res.output
    assert "(3, 288, 432)" in res.output and "parameters:" in res.output


def test_info_unknown_name():
    res = runner.invoke(app, ["models", "--info", "no-such-model"])
    assert res.exit_code == 2
    assert "unknown model" in res.output


def test_info_falls_back_to_shipped_model_card(monkeypatch):
    import genrelab.pretrained as pretrained

    monkeypatch.setattr(pretrained, "model_card", lambda name="default": f"# Model card of {name}\n", raising=False)
    res = runner.invoke(app, ["models", "--info", "default"])
    assert res.exit_code == 0, res.output
    assert "# Model card of default" in res.output


def test_markdown_table():
    res = runner.invoke(app, ["models", "--markdown"])
    assert res.exit_code == 0
    assert res.output.startswith("| model | family | kind |")
    assert "| `qin-mlp` | qin | torch | 13,322 | 57 |" in res.output
