"""``genrelab classify`` and ``genrelab export`` on tiny data (in-process, through typer's runner)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import inference_fixture as fx
from genrelab.cli import app

runner = CliRunner()


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "music"
    (root / "a" / "b").mkdir(parents=True)
    files = {}
    for i, lab in enumerate(fx.LABELS):
        p = root / ("a/b" if i == 0 else "a") / f"{lab}.wav"
        sf.write(str(p), fx.synth(lab, 7.0, seed=i), fx.SR, subtype="PCM_16")
        files[lab] = p
    (root / "broken.mp3").write_text("definitely not an mp3")
    (root / "cover.jpg").write_bytes(b"\xff\xd8 not audio, and not an audio extension")
    return root, files


def _invoke(*args):
    res = runner.invoke(app, ["classify", *map(str, args)])
    return res


def test_table_output_and_summary(library, torch_ckpt):
    root, files = library
    res = _invoke(root, "--model", torch_ckpt, "--top-k", "2")
    assert res.exit_code == 0, res.output
    out = res.output
    for lab, p in files.items():
        assert p.name in out.replace("\n", "") or str(p) in out
    assert "broken.mp3" in out and "not-audio" in out  # the reason is reported, the batch went on
    assert "cover.jpg" not in out  # not an audio extension: not picked up from folders
    assert "3 classified, 1 failed" in out


def test_csv_output_is_resumable(library, torch_ckpt, tmp_path):
    root, files = library
    out = tmp_path / "results.csv"
    res = _invoke(root, "--model", torch_ckpt, "--output", out, "-q")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert {r["path"] for r in rows} == {str(p) for p in files.values()} | {str(root / "broken.mp3")}
    good = [r for r in rows if not r["error"]]
    assert {r["label"] for r in good} == set(fx.LABELS)
    for r in good:
        assert r["label"] == r["path"].rsplit("/", 1)[1][:-4]
        assert abs(sum(float(r[f"p_{lab}"]) for lab in fx.LABELS) - 1) < 1e-3
    # second run: nothing left but the failure, which is retried (and fails again with its reason)
    res = _invoke(root, "--model", torch_ckpt, "--output", out)
    assert "resuming: 3 file(s) already in" in res.output and "1 to go" in res.output
    rows2 = list(csv.DictReader(out.open()))
    assert len(rows2) == len(rows)
    # drop one finished row: only that file is classified again
    kept = [r for r in rows2 if "midtone" not in r["path"]]
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows2[0]))
        w.writeheader()
        w.writerows(kept)
    res = _invoke(root, "--model", torch_ckpt, "--output", out)
    assert "2 to go" in res.output
    rows3 = list(csv.DictReader(out.open()))
    assert sorted(r["path"] for r in rows3) == sorted(r["path"] for r in rows2)


def test_json_and_timeline(library, torch_ckpt):
    root, files = library
    res = runner.invoke(app, ["classify", str(files["noise"]), str(files["lowtone"]), "--model", str(torch_ckpt),
                              "--format", "json", "--timeline", "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [d["label"] for d in data] == ["noise", "lowtone"]
    for d in data:
        assert len(d["timeline"]) == 2  # 7 s: two whole 3-s windows (the last 1 s is under half a window)
        assert d["timeline"][0]["start"] == 0 and d["timeline"][0]["end"] == 3
        assert set(d["probabilities"]) == set(fx.LABELS)
        assert set(d["timeline"][0]["probabilities"]) == set(fx.LABELS)
        # the one schema: the CLI's JSON reads back into the same result, and writes the same JSON again
        from genrelab.inference import ClassificationResult

        back = ClassificationResult.from_dict(d).to_dict()
        assert back == {k: v for k, v in d.items() if k not in ("run_id", "file_id")}  # + the resume keys


def test_json_output_file_resumes(library, torch_ckpt, tmp_path):
    root, files = library
    out = tmp_path / "r.json"
    assert _invoke(files["noise"], "--model", torch_ckpt, "-o", out, "-q").exit_code == 0
    assert len(json.loads(out.read_text())) == 1
    res = _invoke(root, "--model", torch_ckpt, "-o", out)
    assert "resuming: 1 file(s)" in res.output
    assert len(json.loads(out.read_text())) == 4


def test_csv_to_stdout(library, torch_ckpt):
    root, files = library
    res = runner.invoke(app, ["classify", str(files["midtone"]), "--model", str(torch_ckpt), "-f", "csv", "-q"])
    rows = list(csv.DictReader(res.stdout.splitlines()))
    assert rows[0]["label"] == "midtone"


def test_missing_model_and_no_files(tmp_path):
    res = _invoke(tmp_path, "--model", tmp_path / "nope")
    assert res.exit_code == 2 and "no model" in res.output
    res = _invoke(tmp_path / "nothing-here.wav", "--model", "default")
    assert res.exit_code != 0


def test_export_onnx(torch_ckpt, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    res = runner.invoke(app, ["export", "--onnx", str(torch_ckpt), "--out", str(out)])
    assert res.exit_code == 0, res.output
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.zeros((3, 32), dtype=np.float32)
    assert sess.run(None, {sess.get_inputs()[0].name: x})[0].shape == (3, 3)


def test_export_refuses_sklearn(sklearn_ckpt):
    res = runner.invoke(app, ["export", "--onnx", str(sklearn_ckpt)])
    assert res.exit_code == 2 and "scikit-learn" in res.output
