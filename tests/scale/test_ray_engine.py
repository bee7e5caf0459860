"""``--engine ray`` (classify, features extract) on a local Ray instance with 2 CPUs, against the local engine."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

ray = pytest.importorskip("ray", reason="the 'scale' extra (ray[data]) is not installed")
pytest.importorskip("ray.data")

import inference_fixture as fx  # noqa: E402
from genrelab.cli import app  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]
runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
GENRES = ("blues", "classical", "metal")


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory):
    """A local Ray instance (2 CPUs) whose workers import genrelab and the test fixtures like this process."""
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "GENRELAB_CACHE")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), str(REPO / "tests")]
                                               + ([saved["PYTHONPATH"]] if saved["PYTHONPATH"] else []))
    os.environ["GENRELAB_CACHE"] = str(tmp_path_factory.mktemp("genrelab-cache"))
    from genrelab.scale import connect

    connect(None, num_cpus=2)
    yield ray
    ray.shutdown()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def clips(tmp_path_factory, gtzan_root):
    root = gtzan_root / "genres_original"
    files = [str(root / g / f"{g}.00001.wav") for g in GENRES]
    bad = tmp_path_factory.mktemp("bad") / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    return files, str(bad)


@pytest.fixture(scope="module")
def torch_ckpt(tmp_path_factory):
    return fx.make_checkpoint(tmp_path_factory.mktemp("ckpt") / "mlp", kind="torch")


def _compare(model, files, bad, **ray_opts):
    from genrelab.inference import Classifier
    from genrelab.scale.ray_classify import classify_ray

    clf = Classifier.from_pretrained(model)
    local = {f: clf.classify(f) for f in files}
    got = {r.path: r for r in classify_ray(files + [bad], str(model), classifier=clf, **ray_opts)}
    assert set(got) == set(files) | {bad}
    for f in files:
        a, b = local[f], got[f]
        assert a.error is None and b.error is None, (a.error, b.error)
        assert b.genre == a.genre
        assert b.n_segments == a.n_segments and b.duration == pytest.approx(a.duration)
        assert b.probabilities.keys() == a.probabilities.keys()
        diff = max(abs(a.probabilities[k] - b.probabilities[k]) for k in a.probabilities)
        assert diff < 1e-5, diff
        assert [g for g, _ in b.top] == [g for g, _ in a.top]
    assert got[bad].error and "broken.wav" in got[bad].error and got[bad].error_kind
    return got


def test_ray_matches_local_default_model(ray_local, clips):
    """The shipped model (musicnn embedding + logistic regression) on real GTZAN clips: same answers."""
    files, bad = clips
    got = _compare("default", files, bad)
    assert sum(got[f].genre == g for f, g in zip(files, GENRES)) >= 2  # a real model, real clips


def test_ray_matches_local_torch_model_batched(ray_local, clips, torch_ckpt):
    """A PyTorch model over 3-s windows (5 per track): several files share one actor batch."""
    files, bad = clips
    got = _compare(torch_ckpt, files, bad, batch_size=8)
    assert all(got[f].n_segments == 5 for f in files)
    # the GPU actors' code path (the PyTorch model moved to a torch device), with the CPU standing in for CUDA
    _compare(torch_ckpt, files, bad, batch_size=8, model_device="cpu")


def test_cli_ray_csv_resumes_and_parquet(ray_local, clips, tmp_path):
    files, bad = clips
    out = tmp_path / "results.csv"
    res = runner.invoke(app, ["classify", *files[:2], bad, "--engine", "ray", "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    rows = {r["path"]: r for r in csv.DictReader(out.open())}
    assert set(rows) == set(files[:2]) | {bad}
    assert rows[bad]["error"] and rows[bad]["error_kind"]
    assert all(rows[f]["label"] and not rows[f]["error"] for f in files[:2])
    # a second run only does the new file and retries the failure
    res = runner.invoke(app, ["classify", *files, bad, "--engine", "ray", "-o", str(out)])
    assert "resuming: 2 file(s) already in" in res.output and "2 to go" in res.output, res.output
    rows2 = {r["path"]: r for r in csv.DictReader(out.open())}
    assert set(rows2) == set(files) | {bad}
    assert all(rows2[f] == rows[f] for f in files[:2])

    import pandas as pd

    pq = tmp_path / "results.parquet"
    res = runner.invoke(app, ["classify", *files[:1], "--engine", "ray", "-o", str(pq), "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["classify", *files[:2], "--engine", "ray", "-o", str(pq)])
    assert "resuming: 1 file(s) already in" in res.output, res.output
    table = pd.read_parquet(pq)
    assert sorted(table["path"]) == sorted(files[:2])
    assert list(table.set_index("path").loc[files[0], ["label", "score"]]) == \
        [rows[files[0]]["label"], rows[files[0]]["score"]]


def test_features_extract_ray_matches_local(ray_local, tmp_path, gtzan_root):
    """``features extract --engine ray`` writes the same cache entries as the local engine and reports failures."""
    from genrelab.features.cache import FeatureCache
    from genrelab.features.presets import parse_spec

    src = gtzan_root / "genres_original"
    root = tmp_path / "lib"
    for g in GENRES[:2]:
        (root / g).mkdir(parents=True)
        (root / g / f"{g}.00001.wav").symlink_to(src / g / f"{g}.00001.wav")
    (root / GENRES[0] / "broken.wav").write_bytes(b"RIFF nope")
    args = ["features", "extract", "--dataset", "folder", "--root", str(root), "--feature", "mfcc13", "-q"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "ray"), "--engine", "ray"])
    assert res.exit_code == 0, res.output
    assert "2 computed" in res.output and "1 failed" in res.output and "broken" in res.output
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "local"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    spec = parse_spec("mfcc13")
    a, b = FeatureCache(tmp_path / "ray").entries(spec), FeatureCache(tmp_path / "local").entries(spec)
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 2
    for pa, pb in zip(a, b):
        ea, eb = np.load(pa), np.load(pb)
        # float32 kernels run single-threaded in Ray tasks and multi-threaded here: rounding-level differences
        np.testing.assert_allclose(ea, eb, rtol=1e-5, atol=1e-5 * float(np.abs(eb).max()))
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "ray"), "--engine", "ray"])
    assert "2 already cached" in res.output and "0 computed" in res.output


def test_musicnn_backbone_split_for_gpu_actors(clips):
    """GPU actors run the musicnn network of embedding models: the CPU stage stops at the log-mel patches of
    each window, the actor embeds, pools and applies the head. Run in-process with the CPU standing in for the
    device: the same answers as the local engine (which runs the network with ONNX Runtime)."""
    import json

    from genrelab.inference import Classifier, result_from_dict
    from genrelab.scale.ray_classify import Predictor, prepare_batch

    files, bad = clips
    clf = Classifier.from_pretrained("default")
    opts = dict(model="default", runtime=clf.runtime, n_patches=None, plugins=[])
    batch = prepare_batch({"path": np.array(files + [bad], dtype=object)}, split=True, **opts)
    assert [json.loads(c) for c in batch["counts"][:-1]] == [[10]] * len(files)  # one 30 s window, 10 patches
    assert json.loads(batch["shape"][0]) == [10, 187, 96] and batch["error"][-1]
    out = Predictor(**opts, top_k=3, device="cpu", split=True)({k: np.array(v, dtype=object)
                                                                for k, v in batch.items()})
    for path, text in zip(out["path"], out["result"]):
        r = result_from_dict(json.loads(text))
        if path == bad:
            assert r.error and r.error_kind
            continue
        local = clf.classify(path)
        assert r.genre == local.genre and r.n_segments == local.n_segments == 1
        assert max(abs(r.probabilities[k] - v) for k, v in local.probabilities.items()) < 1e-5
