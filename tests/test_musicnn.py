"""musicnn: TF checkpoint reader, the PyTorch port's parity with TensorFlow, registry, features and ``genrelab tags``.

Parity: ``../shared/data/musicnn_reference/tf_outputs.npz`` holds the original TensorFlow models' outputs for
10 real GTZAN clips; the port must reproduce them from the audio files (preprocessing included) within 1e-4
relative: ``max |port - tf| <= 1e-4 * max |tf|`` per array (and element-wise ``allclose(rtol=1e-4)`` with an
absolute floor of 1e-5 of the array's range).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from genrelab.features import musicnn as fm
from genrelab.musicnn import dsp, info, network, weights
from genrelab.musicnn import runtime as mrt
from genrelab.runtime import Runtime

pytestmark = pytest.mark.skipif(info.installed_package_dir() is None, reason="musicnn package not installed")

REF_LAYERS = ("taggram", "max_pool", "mean_pool", "penultimate")
SHARED_DATA = Path(os.environ.get("GENRELAB_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A path under the shared data folder (as in conftest.py); skips the test when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not found: {p} (set GENRELAB_SHARED_DATA)")
    return p
REL_TOL = 1e-4


@pytest.fixture(scope="module")
def reference():
    z = np.load(shared_path("musicnn_reference", "tf_outputs.npz"))
    return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def ref_patches(reference):
    """The 10 reference clips, from their audio files, as model input ``(10 clips, 10 patches, 187, 96)``."""
    root = shared_path("gtzan", "genres_original")
    clips = []
    for key in reference["keys"]:
        x = dsp.file_patches(root / key.split(".")[0] / f"{key}.wav")
        assert x.shape[0] >= 10
        clips.append(x[:10])
    return np.stack(clips)


def _rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(got - ref).max() / np.abs(ref).max())


# --------------------------------------------------------------------------- checkpoint reader
def test_checkpoint_reader_musicnn():
    d = weights.checkpoint_dir("MSD_musicnn")
    everything = weights.list_entries(d)
    assert len(everything) == 150  # 64 model tensors + 2 Adam slots x 42 trainables + beta1/beta2 powers
    t = weights.read_checkpoint(d)
    assert len(t) == 64
    assert sum(v.size for v in t.values()) == 792_079
    assert not any("Adam" in k or "power" in k for k in t)
    assert t["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert t["conv2d_1/kernel"].shape == (7, 67, 1, 204)
    assert t["conv2d_2/kernel"].shape == (128, 1, 1, 51)
    assert t["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    assert t["batch_normalization_9/gamma"].shape == (1506,)
    assert t["dense/kernel"].shape == (1506, 200)
    assert t["dense_1/kernel"].shape == (200, 50)
    assert all(v.dtype == np.float32 for v in t.values())
    assert all((t[k] > 0).all() for k in t if k.endswith("moving_variance"))
    with_slots = weights.read_checkpoint(d, include_slots=True)
    assert len(with_slots) == 150 and with_slots["dense/kernel/Adam"].shape == (1506, 200)


def test_checkpoint_reader_vgg_and_errors(tmp_path):
    t = weights.read_checkpoint(weights.checkpoint_dir("MTT_vgg"))
    assert len(t) == 36
    assert t["1CNN/kernel"].shape == (3, 3, 1, 128) and t["dense/kernel"].shape == (256, 50)
    from genrelab.types import CheckpointError

    bad = tmp_path / "x.index"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(CheckpointError, match="magic"):
        weights.read_checkpoint(bad)
    with pytest.raises(CheckpointError):
        weights.read_checkpoint(tmp_path / "nothing")


def test_conversion_is_cached_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path))
    monkeypatch.setattr(weights, "_WEIGHTS_MEMO", {})
    sd = weights.pretrained_state_dict("MTT_vgg")
    path = tmp_path / "musicnn" / "MTT_vgg.safetensors"
    assert path.is_file()
    first = path.stat().st_mtime_ns
    monkeypatch.setattr(weights, "_WEIGHTS_MEMO", {})
    sd2 = weights.pretrained_state_dict("MTT_vgg")
    assert path.stat().st_mtime_ns == first  # read back, not converted again
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    # TF HWIO -> PyTorch OIHW
    tf = weights.read_checkpoint(weights.checkpoint_dir("MTT_vgg"))
    assert torch.equal(sd["convs.1.weight"], torch.from_numpy(tf["2CNN/kernel"].transpose(3, 2, 0, 1).copy()))


# --------------------------------------------------------------------------- preprocessing
def test_log_mel_has_no_float16_overflow():
    mel = np.array([[0.0, 1e-3, 6.0, 7.0, 100.0, 1e6]], dtype=np.float32)
    out = dsp.log_compress(mel)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert out[0, 4] == pytest.approx(np.log10(10000 * 100 + 1), rel=1e-3)  # float16 would give inf
    assert dsp.patches(np.zeros((400, 96), np.float32)).shape == (2, 187, 96)
    assert dsp.patches(np.ones((50, 96), np.float32)).shape == (1, 187, 96)  # short: repeat-padded


def test_numpy_mel_is_librosas_bit_for_bit():
    # mel_power avoids importing librosa (a cold start's second); it must give librosa's numbers exactly
    import librosa

    basis = librosa.filters.mel(sr=16000, n_fft=512, n_mels=96)
    assert dsp.mel_filterbank().dtype == basis.dtype and np.array_equal(dsp.mel_filterbank(), basis)

    def librosa_mel(y):
        spec = np.abs(librosa.stft(y, n_fft=512, hop_length=256, center=True, pad_mode="constant")) ** 2
        return np.swapaxes(np.einsum("...ft,mf->...mt", spec, basis, optimize=True), -1, -2)

    clip = dsp.load_audio(shared_path("gtzan", "genres_original", "jazz", "jazz.00006.wav"))
    rng = np.random.default_rng(0)
    signals = [clip, clip[:47872], clip[:47873]] + [rng.standard_normal(n).astype(np.float32) for n in (1, 511, 512, 1000)]
    for y in signals:
        assert np.array_equal(dsp.mel_power(y), librosa_mel(y)), y.size
    batch = np.stack([clip[:60000], clip[60000:120000]])
    assert np.array_equal(dsp.mel_power(batch), librosa_mel(batch))
    with pytest.raises(Exception, match="finite"):
        dsp.mel_power(np.array([0.0, np.nan] * 400, dtype=np.float32))


def test_patch_length_is_the_original_packages():
    # musicnn's extractor cuts librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1 frames per
    # patch, back to back, and every model was trained on patches of that many frames (config.json n_frames)
    import librosa

    assert info.PATCH_FRAMES == librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1 == 187
    for model in info.PRETRAINED:
        cfg = json.loads((weights.checkpoint_dir(model) / "config.json").read_text())
        assert cfg["n_frames"] == cfg["xInput"] == info.PATCH_FRAMES and cfg["audio_rep"]["hop"] == info.HOP
    # one patch advances 187 hops: a segment of PATCH_SAMPLES gives the whole-track spectrogram's patch (all
    # frames but the first, whose left half is the segment's zero padding); one hop less would lose the last
    assert info.PATCH_SAMPLES == 187 * 256 and fm.MusicnnEmbedding().patch_samples == info.PATCH_SAMPLES
    from genrelab.models import registry

    assert registry.get("musicnn").contract().spec.segment_samples == info.PATCH_SAMPLES
    y = dsp.load_audio(shared_path("gtzan", "genres_original", "jazz", "jazz.00006.wav"))
    whole = dsp.patches(dsp.log_mel(y))
    mel = fm.MusicnnMel()
    for k in (1, 4):
        seg = mel.compute(y[k * info.PATCH_SAMPLES:(k + 1) * info.PATCH_SAMPLES])
        assert seg.shape == (187, 96) and np.array_equal(seg[1:], whole[k, 1:])
        short = mel.compute(y[k * info.PATCH_SAMPLES:(k + 1) * info.PATCH_SAMPLES - info.HOP])
        assert np.array_equal(short[1:-1], whole[k, 1:-1]) and not np.array_equal(short[-1], whole[k, -1])


def _same_patches(got: np.ndarray, ref: np.ndarray) -> bool:
    """Equal but for the float32 rounding of the mel projection, which (in librosa too) depends on how many
    frames are projected at once: after the float16 storage that is one float16 step on a few in 10^5 values."""
    return got.shape == ref.shape and np.mean(got != ref) < 1e-4 and float(np.abs(got - ref).max()) < 1e-3


def test_streamed_patches_are_the_whole_signals():
    y = dsp.load_audio(shared_path("gtzan", "genres_original", "rock", "rock.00000.wav"))
    rng = np.random.default_rng(1)
    for n in (y.size, 3 * info.PATCH_SAMPLES - 256, 3 * info.PATCH_SAMPLES - 257, 2 * info.PATCH_SAMPLES + 5, 900):
        z = y[:n]
        ref = dsp.patches(dsp.log_mel(z))
        blocks = np.split(z, np.sort(rng.integers(0, n, 5)))  # uneven blocks, some empty
        got = np.concatenate(list(dsp.patch_stream(blocks, chunk=int(rng.integers(1, 5)))))
        assert _same_patches(got, ref), n
    # a final partial patch is kept, zero-padded, when asked (a timeline reaching the end of a song)
    z = y[: int(2.6 * info.PATCH_SAMPLES)]
    kept = np.concatenate(list(dsp.patch_stream([z], partial=0.5)))
    padded = dsp.patches(dsp.log_mel(np.pad(z, (0, 3 * info.PATCH_SAMPLES - z.size))))
    assert kept.shape == (3, 187, 96) and _same_patches(kept, padded)
    with pytest.raises(Exception, match="finite"):
        list(dsp.patch_stream([np.full(1000, np.nan, np.float32)]))


@pytest.mark.integration
def test_embedding_batch_and_streaming_paths_agree():
    # one implementation: compute_many (training, default classify) and patch_embeddings (the timeline)
    y = dsp.load_audio(shared_path("gtzan", "genres_original", "country", "country.00004.wav"))
    cfg = fm.MusicnnEmbedding()
    batch = cfg.compute_many([y])[0]
    per_patch = cfg.patch_embeddings(np.array_split(y, 7), partial=None)
    assert per_patch.shape == (len(dsp.patches(dsp.log_mel(y))), 200)
    np.testing.assert_allclose(cfg.pool(per_patch), batch, rtol=0, atol=1e-5)
    # the clip-long contexts of the timeline pool the same per-patch rows
    ctx = cfg.pool_windows(per_patch, 4)
    assert ctx.shape == (len(per_patch), 400)
    np.testing.assert_allclose(ctx[0], cfg.pool(per_patch[:4]), rtol=0, atol=1e-7)
    np.testing.assert_allclose(ctx[-1], cfg.pool(per_patch[-4:]), rtol=0, atol=1e-7)
    assert np.array_equal(cfg.pool_windows(per_patch[:2], 4), np.stack([cfg.pool(per_patch[:2])] * 2))


def test_cold_classify_path_imports_no_torch_or_librosa(tmp_path):
    # with the converted weights and the ONNX export cached, the engine and the log-mel need neither torch
    # nor librosa/scipy/numba (together ~2.5 s of a cold start on 2 cores)
    import subprocess
    import sys

    mrt.engine("MSD_musicnn")  # fills the cache (weights, ONNX export and its index) if needed
    clip = shared_path("gtzan", "genres_original", "jazz", "jazz.00006.wav")
    code = ("import sys; from genrelab.musicnn import dsp, runtime; "
            f"e = runtime.engine('MSD_musicnn'); out = e.run(dsp.file_patches({str(clip)!r}), ('penultimate',)); "
            "print(e.backend, out['penultimate'].shape, "
            "sorted(m for m in ('torch', 'librosa', 'scipy', 'numba') if m in sys.modules))")
    env = {**os.environ, "GENRELAB_BACKEND": "auto"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert res.stdout.split() == ["onnx", "(10,", "200)", "[]"]


# --------------------------------------------------------------------------- parity with TensorFlow
@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("model", ["MSD_musicnn", "MTT_musicnn"])
def test_parity_with_tensorflow(model, reference, ref_patches):
    eng = mrt.engine(model)
    assert list(reference[f"{model}__labels"]) == eng.labels
    out = eng.run(ref_patches.reshape(-1, 187, 96), REF_LAYERS)
    for layer in REF_LAYERS:
        ref = reference[f"{model}__{layer}__patches"]
        got = out[layer].reshape(ref.shape)
        err = _rel_err(got, ref)
        assert err <= REL_TOL, f"{model} {layer} ({eng.backend}): relative error {err:.2e}"
        np.testing.assert_allclose(got, ref, rtol=REL_TOL, atol=1e-5 * np.abs(ref).max())
    # every patch has its own penultimate (the upstream extractor repeats the first patch's)
    pen = out["penultimate"].reshape(10, 10, -1)
    assert np.abs(pen[:, 1:] - pen[:, :1]).max() > 1e-2


@pytest.mark.slow
@pytest.mark.integration
def test_parity_torch_backend_and_registry_model(reference, ref_patches):
    x = ref_patches[:3].reshape(-1, 187, 96)
    out = mrt.MusicnnEngine("MSD_musicnn", Runtime.from_env(backend="torch")).run(x, REF_LAYERS)
    for layer in REF_LAYERS:
        ref = reference[f"MSD_musicnn__{layer}__patches"][:3].reshape(30, -1)
        assert _rel_err(out[layer], ref) <= REL_TOL
    # the registered tagger (training path: plain BatchNorm, no inference shortcut) gives the same taggram
    from genrelab.models import registry

    net = registry.build("musicnn-msd", 50).eval()
    logits = net(torch.from_numpy(x[:4]))  # grad enabled: the plain conv -> ReLU -> BN -> max path
    ref = reference["MSD_musicnn__taggram__patches"][:3].reshape(30, -1)[:4]
    assert _rel_err(torch.sigmoid(logits).detach().numpy(), ref) <= REL_TOL


# --------------------------------------------------------------------------- vgg (no TF reference)
def test_vgg_shapes_and_sensible_tags(ref_patches, reference):
    net = weights.load_pretrained("MTT_vgg")
    keys = list(reference["keys"])
    x = ref_patches[keys.index("classical.00003")][:4]
    with torch.inference_mode():
        out = net.forward_features(torch.from_numpy(x))
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes["pool1"] == (4, 128, 92, 48) and shapes["pool5"] == (4, 128, 2, 1)
    assert shapes["penultimate"] == (4, 256) and shapes["taggram"] == (4, 50)
    top = np.argsort(-out["taggram"].numpy().mean(0))[:5]
    assert "classical" in [info.MTT_LABELS[i] for i in top]
    eng = mrt.engine("MSD_vgg")
    t = eng.run(ref_patches[keys.index("jazz.00006")], ("taggram",))["taggram"].mean(0)
    assert "jazz" in [eng.labels[i] for i in np.argsort(-t)[:3]]


# --------------------------------------------------------------------------- registry
def test_registry_round_trip(tmp_path, ref_patches, monkeypatch):
    from genrelab import checkpoint
    from genrelab.models import registry

    names = {e.name for e in registry.list_models()}
    assert {"musicnn", "musicnn-msd", "musicnn-mtt", "vgg-msd", "vgg-mtt"} <= names
    contract = registry.get("musicnn").contract()
    assert contract.input_shape == (187, 96) and contract.spec.feature.kind == "musicnn-mel"
    y = np.random.default_rng(0).standard_normal(contract.spec.segment_samples).astype(np.float32) * 0.1
    assert contract.spec.feature.compute(y).shape == (187, 96)

    model = registry.build("musicnn", 3, backbone="MSD_musicnn")
    # a fine-tuning step moves the weights (head and backbone); short patches keep the test fast
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.from_numpy(ref_patches[0, :4, :48].copy())
    before = model.backbone.dense.weight.detach().clone()
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    opt.step()
    assert not torch.equal(before, model.backbone.dense.weight)
    model.eval()
    ckpt = checkpoint.save(tmp_path / "ck", model, model_name="musicnn", model_args={"backbone": "MSD_musicnn"},
                           labels=["a", "b", "c"])
    # the checkpoint's own weights replace everything: loading must not read the pretrained files again
    import genrelab.models.musicnn as musicnn_module

    def _no_pretrained(*a, **k):
        raise AssertionError("checkpoint.load read the pretrained musicnn weights")

    with monkeypatch.context() as m:
        m.setattr(musicnn_module, "load_pretrained", _no_pretrained)
        loaded = checkpoint.load(ckpt)
    assert loaded.contract.input_shape == (187, 96)
    assert loaded.model_args == {"backbone": "MSD_musicnn"}  # stored args unchanged
    with torch.inference_mode():
        assert torch.allclose(model(x), loaded.model(x), atol=1e-5)

    frozen = registry.build("musicnn", 2, backbone="MTT_musicnn", freeze_backbone=True, hidden=16)
    frozen.train()
    assert not frozen.backbone.training and frozen.head.training
    assert all(not p.requires_grad for p in frozen.backbone.parameters())


# --------------------------------------------------------------------------- feature kind
def test_embedding_feature(reference, ref_patches):
    from genrelab.features.config import FeatureConfig

    cfg = fm.MusicnnEmbedding()
    assert cfg.sample_rate == 16000 and cfg.dim == 400
    again = FeatureConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.hash() == cfg.hash()
    root = shared_path("gtzan", "genres_original")
    paths = [root / k.split(".")[0] / f"{k}.wav" for k in reference["keys"][:2]]
    emb = cfg.compute_files(paths)
    assert emb.shape == (2, 400)
    # pooled per-patch penultimate == the TF reference pooled the same way (the clips have exactly 10 patches)
    ref = reference["MSD_musicnn__penultimate__patches"][:2]
    np.testing.assert_allclose(emb[:, :200], ref.mean(1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(emb[:, 200:], ref.std(1), rtol=1e-3, atol=1e-4)
    # single-signal and batched computation agree
    y = dsp.load_audio(paths[0])
    np.testing.assert_allclose(cfg.compute(y), emb[0], rtol=1e-5, atol=1e-5)
    tag = fm.MusicnnEmbedding(model="MTT_musicnn", layer="max_pool", pooling=("mean",))
    assert tag.compute(y[: 16000 * 7]).shape == (753,)
    from genrelab.types import ConfigError

    with pytest.raises(ConfigError):
        fm.MusicnnEmbedding(model="MSD_vgg", layer="max_pool")
    with pytest.raises(ConfigError):
        fm.MusicnnEmbedding(pooling=("median",))


# --------------------------------------------------------------------------- CLI
def test_tags_cli(tmp_path):
    from genrelab.cli import app

    clip = shared_path("gtzan", "genres_original", "metal", "metal.00001.wav")
    runner = CliRunner()
    res = runner.invoke(app, ["tags", str(clip), "--format", "json", "--top-k", "5", "--segments"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    r = data["results"][0]
    assert data["model"] == "MSD_musicnn" and r["n_segments"] == 10 and len(r["segments"]) == 10
    top = [t["label"] for t in r["tags"]]
    assert len(top) == 5 and {"metal", "heavy metal", "hard rock"} & set(top)
    assert all(0 <= t["score"] <= 1 for t in r["tags"])
    out = tmp_path / "tags.csv"
    res = runner.invoke(app, ["tags", str(clip), "-m", "MTT_musicnn", "-f", "csv", "-o", str(out), "-k", "3"])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert lines[0] == "path,model,segment,start,end,rank,label,score" and len(lines) == 4
    res = runner.invoke(app, ["tags", str(clip), str(tmp_path / "missing.wav")])
    assert res.exit_code == 1 and "metal.00001.wav" in res.stdout and "missing" in res.output


def test_missing_package_and_no_download_error(tmp_path, monkeypatch):
    # no package, nothing cached, and the wheel cannot be downloaded (404 from a local server): a clear error
    from genrelab.cli import app
    from genrelab.musicnn import wheel
    from http_archive_server import ArchiveServer

    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path))  # nothing converted yet
    monkeypatch.setattr(weights, "_WEIGHTS_MEMO", {})
    monkeypatch.setattr(info, "find_package", lambda: None)
    monkeypatch.setattr(mrt, "_ENGINES", {})
    server = ArchiveServer().start()
    try:
        monkeypatch.setattr(wheel, "WHEEL_URL", server.url("musicnn-0.1.0-py3-none-any.whl"))
        with pytest.raises(info.MusicnnUnavailable, match=r"HTTP 404.*pip install --no-deps musicnn==0\.1\.0"):
            weights.load_pretrained("MSD_musicnn")
        clip = shared_path("gtzan", "genres_original", "blues", "blues.00002.wav")
        res = CliRunner().invoke(app, ["tags", str(clip)])
    finally:
        server.stop()
    assert res.exit_code == 2 and "pip install --no-deps musicnn==0.1.0" in res.output
    # the architectures still build without the package (random weights)
    assert network.build_net("MSD_musicnn").out.out_features == 50


def test_package_layout_has_no_feature_model_import():
    # features/musicnn.py and models/musicnn.py only register; neither imports the other, and the
    # genrelab.musicnn package imports neither features nor models
    from importscan import file_imports as imports

    src = Path(__file__).resolve().parents[1] / "src" / "genrelab"

    assert not {m for m in imports(src / "features" / "musicnn.py") if m.startswith("genrelab.models")}
    assert not {m for m in imports(src / "models" / "musicnn.py") if m.startswith("genrelab.features.musicnn")}
    for f in (src / "musicnn").glob("*.py"):
        bad = {m for m in imports(f) if m.startswith(("genrelab.features", "genrelab.models", "genrelab.datasets"))}
        assert not bad, (f.name, bad)
