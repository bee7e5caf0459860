"""Mel / STFT / MFCC: equal to librosa on real clips, batched, shapes and dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from genrelab.features.spectral import (MFCC, MelSpectrogram, Spectrogram, feng_stft, feng_stft_spec,
                                        resolve_device)

librosa = pytest.importorskip("librosa")

CLIPS = ("blues/blues.00000.wav", "metal/metal.00004.wav", "classical/classical.00000.wav")


@pytest.fixture(scope="module")
def clips(gtzan_root):
    ys = [sf.read(str(gtzan_root / "genres_original" / c), dtype="float32")[0] for c in CLIPS]
    n = min(len(y) for y in ys)
    return np.stack([y[:n] for y in ys])


@pytest.mark.integration
def test_mel_equals_librosa_within_1e_3_db(clips):
    ours = MelSpectrogram().compute(clips)  # one batched call
    assert ours.shape == (3, 128, 1 + clips.shape[1] // 512) and ours.dtype == np.float32
    for y, m in zip(clips, ours):
        ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050), ref=np.max, top_db=80.0)
        assert np.abs(m - ref).max() < 1e-3


@pytest.mark.integration
def test_mel_numeric_ref_and_options(clips):
    y = clips[0]
    cfg = MelSpectrogram(n_mels=64, n_fft=1024, hop_length=256, fmin=20.0, fmax=8000.0, ref=1.0, top_db=80.0)
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050, n_fft=1024, hop_length=256, n_mels=64,
                                                             fmin=20.0, fmax=8000.0), ref=1.0, top_db=80.0)
    assert np.abs(cfg.compute(y) - ref).max() < 1e-3
    lin = MelSpectrogram(db=False).compute(y)
    ref_lin = librosa.feature.melspectrogram(y=y, sr=22050)
    np.testing.assert_allclose(lin, ref_lin, rtol=1e-3, atol=1e-6 * ref_lin.max())


@pytest.mark.integration
def test_mfcc_and_stft_equal_librosa(clips):
    y = clips[1]
    m = MFCC(n_mfcc=20).compute(y)
    assert np.abs(m - librosa.feature.mfcc(y=y, sr=22050, n_mfcc=20)).max() < 1e-2
    m13 = MFCC(n_mfcc=13, time_major=True).compute(y)
    assert m13.shape == (1 + len(y) // 512, 13)
    s = Spectrogram().compute(y)
    ref = librosa.power_to_db(np.abs(librosa.stft(y)) ** 2, ref=np.max, top_db=80.0)
    # float32 FFT rounding of both implementations in bins ~80 dB down: a few thousandths of a dB
    assert np.abs(s - ref).max() < 1e-2
    assert np.median(np.abs(s - ref)) < 1e-4


def test_batch_equals_single_and_shapes():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((2, 22050)).astype(np.float32)
    for cfg in (MelSpectrogram(), Spectrogram(n_fft=512, hop_length=128), MFCC(n_mfcc=13)):
        batch = cfg.compute(y)
        single = cfg.compute(y[1])
        assert batch.shape == (2, *single.shape) == (2, *cfg.output_shape(22050))
        assert batch.dtype == np.float32
        np.testing.assert_allclose(batch[1], single, atol=1e-4)


def test_feng_stft_is_128_frames_by_512_bins():
    # one reading of Feng's "128 x 512", shared by the preset and the feng-bigru model: (bins, frames) = (512, 128)
    y = np.random.default_rng(1).standard_normal(22050 * 30).astype(np.float32)
    assert feng_stft().compute(y[:127 * 512]).shape == (512, 128)
    assert feng_stft_spec().examples(y).shape == (10, 512, 128)
    from genrelab.models import registry

    assert registry.get("feng-bigru").contract().spec == feng_stft_spec()


def test_device_resolution(monkeypatch):
    import torch

    assert resolve_device("cpu") == "cpu"
    monkeypatch.setenv("GENRELAB_FEATURE_DEVICE", "cpu")
    assert resolve_device() == "cpu"
    monkeypatch.delenv("GENRELAB_FEATURE_DEVICE")
    assert resolve_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    y = np.random.default_rng(2).standard_normal(8000).astype(np.float32)
    out = MelSpectrogram().compute_tensor(torch.from_numpy(y)[None])
    assert isinstance(out, torch.Tensor) and out.shape[0] == 1


@pytest.mark.skipif("not __import__('torch').cuda.is_available()")
def test_gpu_equals_cpu():
    y = np.random.default_rng(3).standard_normal((2, 22050 * 5)).astype(np.float32)
    np.testing.assert_allclose(MelSpectrogram().compute(y, device="cuda"), MelSpectrogram().compute(y, device="cpu"),
                               atol=1e-3)
