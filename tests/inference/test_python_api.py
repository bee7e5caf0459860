"""The Python API (Hugging Face pipeline shape), the one result schema, and what inference may touch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import inference_fixture as fx
from importscan import file_imports
from genrelab.inference import Classifier, ClassificationResult, TimelineEntry
from genrelab.types import AudioError, AudioProblem

SRC = Path(__file__).resolve().parents[2] / "src" / "genrelab"


@pytest.fixture(scope="module")
def clf(request):
    return Classifier.from_pretrained(request.getfixturevalue("torch_ckpt"))


def test_pipeline_call_shapes(clf, tmp_path):
    path = tmp_path / "a.wav"
    sf.write(str(path), fx.synth("midtone", 6.0), fx.SR, subtype="PCM_16")
    out = clf(str(path), top_k=2)
    assert [set(d) for d in out] == [{"label", "score"}] * 2
    assert out[0]["label"] == "midtone" and out[0]["score"] >= out[1]["score"]
    assert clf(path)[0]["label"] == "midtone"  # a PathLike too; default top_k covers every label here
    assert len(clf(path)) == len(fx.LABELS)
    y = fx.synth("noise", 6.0)
    assert clf(y, sampling_rate=fx.SR, top_k=1) == [{"label": "noise", "score": pytest.approx(out[0]["score"], abs=1)}]
    y44 = np.interp(np.arange(int(6.0 * 44100)) * fx.SR / 44100, np.arange(y.size), y).astype(np.float32)
    assert clf(y44, sampling_rate=44100, top_k=1)[0]["label"] == "noise"
    assert clf({"array": y, "sampling_rate": fx.SR}, top_k=1)[0]["label"] == "noise"
    both = clf([str(path), y], sampling_rate=fx.SR, top_k=1)
    assert [b[0]["label"] for b in both] == ["midtone", "noise"]


def test_pipeline_call_refuses_what_is_not_audio(clf, tmp_path):
    for bad in (42, b"RIFF....", object(), np.array(["a", "b"])):
        with pytest.raises(TypeError):
            clf(bad)
    with pytest.raises(TypeError):  # not a "missing file" named after the array's repr
        clf.classify(np.zeros(16000, dtype=np.float32))
    with pytest.raises(AudioError) as exc:
        clf(str(tmp_path / "missing.wav"))
    assert exc.value.problem is AudioProblem.MISSING
    with pytest.raises(AudioError) as exc:
        clf(np.zeros(fx.SR * 4, dtype=np.float32), sampling_rate=fx.SR)
    assert exc.value.problem is AudioProblem.SILENT


def test_result_round_trip_is_lossless(clf, tmp_path):
    y = np.concatenate([fx.synth("lowtone", 6.0, seed=1), fx.synth("noise", 6.0, seed=2)])
    res = clf.classify_array(y, fx.SR, timeline=True, path="mix.wav")
    assert res.timeline and all(set(e.probabilities) == set(fx.LABELS) for e in res.timeline)
    d = res.to_dict()
    assert {"path", "label", "score", "top", "probabilities", "timeline"} <= set(d)
    assert set(d["top"][0]) == {"label", "score"} and set(d["timeline"][0]) == {
        "start", "end", "label", "score", "probabilities"}
    back = ClassificationResult.from_dict(json.loads(json.dumps(d)))
    assert back == res  # every field, timeline probabilities included, bit for bit through JSON
    err = ClassificationResult(path="x.wav", error="x.wav: silent", error_kind="silent", model="m")
    assert ClassificationResult.from_dict(err.to_dict()) == err
    assert TimelineEntry.from_dict(res.timeline[0].to_dict()) == res.timeline[0]


def test_a_silent_file_fails_fast_on_the_timeline(clf, tmp_path, monkeypatch):
    """--timeline on a silent file: the silence is found while decoding, before any window is classified."""
    path = tmp_path / "silent.wav"
    sf.write(str(path), np.zeros(fx.SR * 600, dtype=np.float32), fx.SR, subtype="PCM_16")  # 10 minutes
    calls = []

    def no_model_work(windows):
        calls.append(len(windows))
        raise AssertionError("a window of a silent file reached the model")

    monkeypatch.setattr(clf, "predict_windows", no_model_work)
    res = clf.classify(path, timeline=True)
    assert res.error_kind == "silent" and str(path) in res.error
    assert calls == []


def test_inference_never_opens_checkpoint_files():
    """Checkpoint files are checkpoint.load's business: inference holds no weights format, no file reads."""
    for f in sorted((SRC / "inference").glob("*.py")):
        text = f.read_text()
        for banned in ("safetensors", "__norm__", "skops", "read_bytes", "hashlib", "onnxruntime", "GENRELAB_"):
            assert banned not in text, f"{f.name} mentions {banned}"
        imported = file_imports(f)
        assert not any(m.startswith(("genrelab.training", "torch", "sklearn")) for m in imported), (f.name, imported)
    assert not (SRC / "inference.py").exists()
    for f in SRC.rglob("*.py"):  # the CLI and web app use the public exporter, never a private one
        assert "_export_onnx_file" not in f.read_text(), f


def test_checkpoint_load_is_the_one_loader(torch_ckpt, sklearn_ckpt, tmp_path):
    """checkpoint.load gives an object with predict_proba on every backend, the normaliser applied inside."""
    pytest.importorskip("onnxruntime")
    from genrelab import checkpoint
    from genrelab.runtime import Runtime

    rt = Runtime(cache_dir=tmp_path / "cache")
    x = np.random.default_rng(0).standard_normal((7, 32)).astype(np.float32)
    plain = checkpoint.load(torch_ckpt)  # training/evaluation: the torch module itself
    assert plain.model is not None and plain.backend == "torch"
    onnx = checkpoint.load(torch_ckpt, runtime=rt)  # exports once into the runtime's cache
    assert onnx.backend == "onnx" and list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    again = checkpoint.load(torch_ckpt, runtime=rt)  # the cached export: no torch model is built
    assert again.backend == "onnx" and again.model is None
    np.testing.assert_allclose(again.predict_proba(x), plain.predict_proba(x), atol=1e-5)
    sk = checkpoint.load(sklearn_ckpt, runtime=rt)
    lin = checkpoint.load(sklearn_ckpt, runtime=rt)  # the verified numpy twin, cached by the first load
    assert (sk.backend, lin.backend, lin.model) == ("sklearn", "linear", None)
    np.testing.assert_allclose(lin.predict_proba(x), sk.predict_proba(x), atol=1e-5)  # float64 vs float32 input
    assert checkpoint.load(sklearn_ckpt, runtime=rt.with_(backend="torch")).backend == "sklearn"
