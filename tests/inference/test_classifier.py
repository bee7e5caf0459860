"""The Classifier: checkpoint -> same features -> model -> aggregated genres, on synthetic and real audio."""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

import inference_fixture as fx
from genrelab import audio
from genrelab.inference import (
    Classifier,
    aggregate_probabilities,
    classify_parallel,
    resolve_model,
)
from genrelab.runtime import Runtime
from genrelab.types import GTZAN_GENRES, CheckpointError


def _write(path, y, sr=fx.SR):
    sf.write(str(path), y, sr, subtype="PCM_16")
    return path


@pytest.mark.parametrize("which", ["torch_ckpt", "sklearn_ckpt", "clip_ckpt"])
def test_classifies_synthetic_genres(which, request, tmp_path):
    clf = Classifier.from_pretrained(request.getfixturevalue(which))
    for i, lab in enumerate(fx.LABELS):
        p = _write(tmp_path / f"{lab}.wav", fx.synth(lab, 12.0, seed=500 + i))
        res = clf.classify(p, top_k=2)
        assert res.ok, res.error
        assert res.genre == lab
        assert len(res.top) == 2 and res.top[0][1] >= res.top[1][1]
        assert set(res.probabilities) == set(fx.LABELS)
        assert abs(sum(res.probabilities.values()) - 1) < 1e-6
        assert res.duration == pytest.approx(12.0, abs=0.01)
        assert res.n_segments >= 1


def test_default_mode_uses_a_fixed_number_of_patches(torch_ckpt, tmp_path):
    clf = Classifier.from_pretrained(torch_ckpt, n_patches=4)
    short = clf.classify(_write(tmp_path / "short.wav", fx.synth("noise", 7.0)))
    long = clf.classify(_write(tmp_path / "long.wav", fx.synth("noise", 240.0)))
    assert short.n_segments == 3  # ceil(7 / 3) windows fit: no more than the song has
    assert long.n_segments == 4  # a 4-minute song costs 4 windows, like a short clip
    assert long.genre == "noise"


def test_timeline_follows_a_change_of_style(torch_ckpt, tmp_path):
    y = np.concatenate([fx.synth("lowtone", 9.0, seed=1), fx.synth("noise", 9.0, seed=2)])
    clf = Classifier.from_pretrained(torch_ckpt)
    res = clf.classify(_write(tmp_path / "mix.wav", y), timeline=True)
    assert res.ok and res.timeline is not None
    assert [e.label for e in res.timeline] == ["lowtone"] * 3 + ["noise"] * 3
    assert [(e.start, e.end) for e in res.timeline][:2] == [(0.0, 3.0), (3.0, 6.0)]
    assert res.n_segments == 6
    assert all(0 < e.score <= 1 for e in res.timeline)
    # the same from an in-memory signal
    res2 = clf.classify_array(y, fx.SR, timeline=True)
    assert [e.label for e in res2.timeline] == [e.label for e in res.timeline]


def test_timeline_for_whole_clip_models(clip_ckpt, tmp_path):
    y = np.concatenate([fx.synth("midtone", 12.0, seed=1), fx.synth("lowtone", 12.0, seed=2)])
    res = Classifier.from_pretrained(clip_ckpt).classify(_write(tmp_path / "m.wav", y), timeline=True)
    assert [e.label for e in res.timeline] == ["midtone", "midtone", "lowtone", "lowtone"]


@pytest.mark.slow
def test_long_file_is_streamed_with_bounded_memory(torch_ckpt, tmp_path):
    """A 40-minute file (150 MB as float32) classified in both modes while Python allocates < 40 MB."""
    sr = fx.SR
    path = tmp_path / "long.wav"
    minutes = 40
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", sr, 1, subtype="PCM_16") as f:
        block = (0.3 * rng.standard_normal(60 * sr)).astype(np.float32)
        for _ in range(minutes):
            f.write(block)
    clf = Classifier.from_pretrained(torch_ckpt)
    whole_file_bytes = minutes * 60 * sr * 4
    for timeline in (False, True):
        tracemalloc.start()
        res = clf.classify(path, timeline=timeline)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert res.ok, res.error
        assert res.genre == "noise"
        assert peak < 40e6 < whole_file_bytes / 3, f"peak {peak / 1e6:.0f} MB (timeline={timeline})"
    assert len(res.timeline) == minutes * 20
    assert res.timeline[-1].end == pytest.approx(minutes * 60.0)


def test_bad_files_are_reported_and_the_batch_goes_on(torch_ckpt, tmp_path):
    good = _write(tmp_path / "good.wav", fx.synth("midtone", 6.0))
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 50)
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    silent = _write(tmp_path / "silent.wav", np.zeros(fx.SR * 4, dtype=np.float32))
    tiny = _write(tmp_path / "tiny.wav", fx.synth("noise", 0.2))
    missing = tmp_path / "missing.flac"
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    paths = [text, good, empty, silent, tiny, missing, truncated]
    results = list(classify_parallel(paths, torch_ckpt, workers=1))
    by = {r.path: r for r in results}
    assert len(results) == len(paths)
    assert by[str(good)].ok and by[str(good)].genre == "midtone"
    kinds = {str(p): by[str(p)].error_kind for p in paths if p != good}
    assert kinds == {str(text): "not-audio", str(empty): "empty", str(silent): "silent", str(tiny): "too-short",
                     str(missing): "missing", str(truncated): "corrupt"}
    for p in paths:
        if p != good:
            assert str(p) in by[str(p)].error  # every reason names the file


@pytest.mark.slow
def test_parallel_workers_give_the_same_answers(torch_ckpt, tmp_path):
    paths = [_write(tmp_path / f"{lab}{i}.wav", fx.synth(lab, 6.0, seed=i)) for i in range(2) for lab in fx.LABELS]
    paths.append(tmp_path / "nope.wav")
    clf = Classifier.from_pretrained(torch_ckpt)
    serial = {r.path: r.genre for r in classify_parallel(paths, torch_ckpt, workers=1, classifier=clf)}
    parallel = {r.path: r.genre for r in classify_parallel(paths, torch_ckpt, workers=2, classifier=clf)}
    assert serial == parallel
    assert parallel[str(tmp_path / "nope.wav")] is None


def test_onnx_and_torch_agree(torch_ckpt, tmp_path):
    pytest.importorskip("onnxruntime")
    a = Classifier.from_pretrained(torch_ckpt, runtime=Runtime.from_env(backend="torch"))
    b = Classifier.from_pretrained(torch_ckpt, runtime=Runtime.from_env(backend="onnx"))
    assert (a.backend_name, b.backend_name) == ("torch", "onnx")
    auto = Classifier.from_pretrained(torch_ckpt)  # the export is cached: auto picks it up
    assert auto.backend_name == "onnx"
    for i, lab in enumerate(fx.LABELS):
        p = _write(tmp_path / f"{lab}.wav", fx.synth(lab, 9.0, seed=i))
        ra, rb = a.classify(p), b.classify(p)
        assert ra.genre == rb.genre == lab
        assert np.allclose(list(ra.probabilities.values()), list(rb.probabilities.values()), atol=1e-4)


def test_onnx_can_be_switched_off(torch_ckpt, monkeypatch):
    monkeypatch.setenv("GENRELAB_BACKEND", "torch")
    assert Classifier.from_pretrained(torch_ckpt).backend_name == "torch"


@pytest.mark.slow
def test_inference_does_not_import_training(torch_ckpt, tmp_path):
    import subprocess

    code = (
        "import sys; sys.path.insert(0, %r); import inference_fixture\n"
        "from genrelab.inference import Classifier\n"
        "c = Classifier.from_pretrained(%r)\n"
        "r = c.classify_array(inference_fixture.synth('noise', 6.0), 16000)\n"
        "assert r.genre == 'noise'\n"
        "bad = [m for m in sys.modules if m.startswith(('genrelab.training', 'lightning', 'pytorch_lightning'))]\n"
        "assert not bad, bad\n"
    ) % (str(fx.__file__).rsplit("/", 1)[0], str(torch_ckpt))
    subprocess.run([sys.executable, "-c", code], check=True)


def test_resolve_model_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not a genrelab checkpoint"):
        resolve_model(tmp_path)
    with pytest.raises(CheckpointError, match="no model"):
        resolve_model("no-such-model")


def test_aggregation_matches_evaluation():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=7)
    assert np.allclose(aggregate_probabilities(p, "mean"), p.mean(0))
    from genrelab.evaluation.aggregate import aggregate_tracks

    for method in ("mean", "vote"):
        _, rows = aggregate_tracks(p, ["t"] * len(p), method)
        assert np.allclose(aggregate_probabilities(p, method), rows[0])


@pytest.mark.integration
def test_odd_real_files(torch_ckpt, shared_data):
    """Real files of other rates, channels and formats go through the same path (44.1 kHz wav, 2 s mp3)."""
    clf = Classifier.from_pretrained(torch_ckpt)
    for p in sorted((shared_data / "samples").iterdir()):
        res = clf.classify(p, timeline=True)
        assert res.ok, res.error
        assert res.duration == pytest.approx(audio.info(p).duration, abs=0.1)
        assert res.timeline


@pytest.mark.integration
@pytest.mark.slow
def test_default_model_on_real_clips(default_clf, gtzan_root):
    """The shipped model on one real clip per genre (a smoke test: these clips are its training data; the
    leak-free accuracy is in its model card)."""
    clf = default_clf
    assert clf.labels == list(GTZAN_GENRES)
    root = gtzan_root / "genres_original"
    right = 0
    genres = sorted(d.name for d in root.iterdir() if d.is_dir())
    for g in genres:
        clip = sorted((root / g).glob("*.wav"))[0]
        res = clf.classify(clip, top_k=3)
        assert res.ok, res.error
        right += res.genre == g
    assert right >= 9, f"{right}/10"


@pytest.mark.integration
@pytest.mark.slow
def test_default_model_timeline_on_a_real_medley(default_clf, gtzan_root, tmp_path):
    """Two real clips back to back (classical then metal): the timeline turns from one to the other."""
    root = gtzan_root / "genres_original"
    a, _ = audio.load(sorted((root / "classical").glob("*.wav"))[1], sr=16000)
    b, _ = audio.load(sorted((root / "metal").glob("*.wav"))[1], sr=16000)
    path = _write(tmp_path / "medley.wav", np.concatenate([a[:16000 * 30], b[:16000 * 30]]))
    res = default_clf.classify(path, timeline=True)
    assert res.ok, res.error
    genres = [e.label for e in res.timeline]
    assert len(genres) == 20  # one entry per 3-s patch
    assert genres[:3] == ["classical"] * 3 and genres[-3:] == ["metal"] * 3
    assert res.genre in ("classical", "metal")


@pytest.mark.integration
@pytest.mark.slow
def test_default_model_onnx_and_torch_agree_on_real_clips(default_clf, gtzan_root):
    pytest.importorskip("onnxruntime")
    torch_clf = Classifier.from_pretrained("default", runtime=Runtime.from_env(backend="torch"))
    onnx_clf = Classifier.from_pretrained("default", runtime=Runtime.from_env(backend="onnx"))
    root = gtzan_root / "genres_original"
    for g in ("disco", "pop"):
        clip = sorted((root / g).glob("*.wav"))[-1]
        rt, ro = torch_clf.classify(clip), onnx_clf.classify(clip)
        assert rt.ok and ro.ok
        assert rt.genre == ro.genre
        assert max(abs(rt.probabilities[k] - ro.probabilities[k]) for k in rt.probabilities) < 1e-3


def test_linear_sklearn_head_is_cached_and_exact(sklearn_ckpt, tmp_path, monkeypatch):
    """A logistic-regression head is read once with skops, then from a numpy cache (no sklearn import)."""
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path / "cache"))
    first = Classifier.from_pretrained(sklearn_ckpt)
    second = Classifier.from_pretrained(sklearn_ckpt)
    assert (first.backend_name, second.backend_name) == ("sklearn", "linear")
    x = np.random.default_rng(1).standard_normal((5, 32)).astype(np.float32)
    assert np.allclose(first.predict_examples(x), second.predict_examples(x), atol=1e-9)
    monkeypatch.setenv("GENRELAB_BACKEND", "torch")  # plain mode: the real scikit-learn model
    assert Classifier.from_pretrained(sklearn_ckpt).backend_name == "sklearn"
