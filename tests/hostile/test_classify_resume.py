"""Issue 10 item 13 and issue 13 item 6: classify outputs written as you go, resumed only when they match."""

from __future__ import annotations

import csv
import json
import os

import pytest
from typer.testing import CliRunner

import inference_fixture as fx
from genrelab.cli import app
from hostile.conftest import write_wav

runner = CliRunner()


@pytest.fixture
def lib(tmp_path):
    root = tmp_path / "lib"
    for i, lab in enumerate(fx.LABELS):
        write_wav(root / f"{lab}.wav", lab, seed=i)
    return root


def _classify(*args):
    return runner.invoke(app, ["classify", *map(str, args)])


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv"])
def test_output_is_written_as_results_come(lib, tiny_ckpt, tmp_path, monkeypatch, suffix):
    from genrelab import inference

    out = tmp_path / f"r{suffix}"
    real = inference.Classifier.classify
    calls = []

    def interrupted(self, path, *a, **k):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, path, *a, **k)

    monkeypatch.setattr(inference.Classifier, "classify", interrupted)
    res = _classify(lib, "--model", tiny_ckpt, "-o", out, "-q")
    assert res.exit_code == 130
    text = out.read_text()
    assert text.count("lowtone.wav") == 1 and text.count("midtone.wav") == 1  # the two finished files are saved
    monkeypatch.setattr(inference.Classifier, "classify", real)
    res = _classify(lib, "--model", tiny_ckpt, "-o", out)
    assert res.exit_code == 0, res.output
    assert "resuming: 2 file(s) already in" in res.output and "1 to go" in res.output
    if suffix == ".json":
        rows = json.loads(out.read_text())  # completed into valid JSON
    elif suffix == ".jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    else:
        rows = list(csv.DictReader(out.open()))
    assert sorted(os.path.basename(r["path"]) for r in rows) == ["lowtone.wav", "midtone.wav", "noise.wav"]


def test_rows_of_another_model_or_options_are_not_reused(lib, tiny_ckpt, tmp_path):
    out = tmp_path / "r.csv"
    assert _classify(lib, "--model", tiny_ckpt, "-o", out, "-q", "-k", "2").exit_code == 0
    before = out.read_bytes()
    for extra in (["-k", "3"], ["--patches", "2", "-k", "2"], ["--timeline", "-k", "2"]):
        res = _classify(lib, "--model", tiny_ckpt, "-o", out, *extra)
        assert res.exit_code == 2 and "another model or other options" in res.output, (extra, res.output)
        assert out.read_bytes() == before  # never mixed, never destroyed
    other = fx.make_checkpoint(tmp_path / "other", kind="sklearn")
    res = _classify(lib, "--model", other, "-o", out, "-k", "2")
    assert res.exit_code == 2 and out.read_bytes() == before


def test_same_file_by_two_paths_is_classified_once(lib, tiny_ckpt, tmp_path):
    link = tmp_path / "alias.wav"
    link.symlink_to(lib / "noise.wav")
    res = _classify(lib, link, lib / "." / "noise.wav", "--model", tiny_ckpt, "-f", "json", "-q")
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)) == 3
    out = tmp_path / "r.jsonl"
    assert _classify(lib / "noise.wav", "--model", tiny_ckpt, "-o", out, "-q").exit_code == 0
    res = _classify(link, "--model", tiny_ckpt, "-o", out)
    assert "resuming: 1 file(s)" in res.output and "0 to go" in res.output
    assert len(out.read_text().splitlines()) == 1
    os.utime(lib / "noise.wav", ns=(1, 1))  # the file changed: classified again, its row replaced
    res = _classify(lib / "noise.wav", "--model", tiny_ckpt, "-o", out)
    assert "resuming" not in res.output and len(out.read_text().splitlines()) == 1


def test_cut_short_and_malformed_rows_are_ignored_and_reported(lib, tiny_ckpt, tmp_path):
    out = tmp_path / "r.csv"
    assert _classify(lib, "--model", tiny_ckpt, "-o", out, "-q").exit_code == 0
    text = out.read_text()
    lines = text.splitlines(keepends=True)
    # a row cut by a kill (last one, no end of line) and a garbage row in the middle
    out.write_text(lines[0] + "garbage,row\n" + "".join(lines[1:-1]) + lines[-1][: len(lines[-1]) // 2])
    for _ in range(2):  # and the run after that works as well
        res = _classify(lib, "--model", tiny_ckpt, "-o", out)
        assert res.exit_code == 0, res.output
        rows = list(csv.DictReader(out.open()))
        assert sorted(os.path.basename(r["path"]) for r in rows) == ["lowtone.wav", "midtone.wav", "noise.wav"]
    assert "to go" in res.output


def test_first_run_reports_malformed_rows(lib, tiny_ckpt, tmp_path):
    out = tmp_path / "r.jsonl"
    assert _classify(lib, "--model", tiny_ckpt, "-o", out, "-q").exit_code == 0
    with out.open("a") as f:
        f.write('{"path": "x.wav", "run_id": "broken\n')
    res = _classify(lib, "--model", tiny_ckpt, "-o", out)
    assert res.exit_code == 0 and "ignored 1 malformed row(s)" in res.output, res.output


def test_csv_has_rank_columns_and_a_timeline_table(lib, tiny_ckpt, tmp_path):
    out, tl = tmp_path / "r.csv", tmp_path / "timeline.csv"
    res = _classify(lib, "--model", tiny_ckpt, "-o", out, "--timeline-out", tl, "-k", "2", "-q")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert {"label_1", "score_1", "label_2", "score_2"} <= set(rows[0]) and "top" not in rows[0]
    assert "timeline" not in rows[0]
    for r in rows:
        assert r["label_1"] == r["label"] and float(r["score_1"]) >= float(r["score_2"])
    windows = list(csv.DictReader(tl.open()))
    assert list(windows[0])[:5] == ["path", "start", "end", "label", "score"]
    assert {f"p_{lab}" for lab in fx.LABELS} <= set(windows[0])
    assert len(windows) == 3 * 1  # three 4-s files: one whole 3-s window each
    for w in windows:
        assert abs(sum(float(w[f"p_{lab}"]) for lab in fx.LABELS) - 1) < 1e-3
        assert float(w["end"]) > float(w["start"])


def test_a_json_cut_by_a_kill_is_completed(lib, tiny_ckpt, tmp_path):
    out = tmp_path / "r.json"
    assert _classify(lib, "--model", tiny_ckpt, "-o", out, "-q").exit_code == 0
    text = out.read_text()
    out.write_text(text[: text.rindex("}") - 5])  # as a kill -9 in the middle of the last row leaves it
    res = _classify(lib, "--model", tiny_ckpt, "-o", out)
    assert res.exit_code == 0 and "malformed" in res.output and "1 to go" in res.output, res.output
    assert sorted(os.path.basename(r["path"]) for r in json.loads(out.read_text())) == [
        "lowtone.wav", "midtone.wav", "noise.wav"]


@pytest.mark.parametrize("name,content", [("notes.json", '{"a": 1}\n'), ("table.csv", "a,b\n1,2\n"),
                                          ("log.jsonl", "hello\nworld\n"), ("old.csv", "path,genre\nx.wav,rock\n")])
def test_a_file_that_is_not_ours_is_never_overwritten(lib, tiny_ckpt, tmp_path, name, content):
    out = tmp_path / name
    out.write_text(content)
    res = _classify(lib, "--model", tiny_ckpt, "-o", out)
    assert res.exit_code == 2 and "not a genrelab classify output" in res.output, res.output
    assert out.read_text() == content
