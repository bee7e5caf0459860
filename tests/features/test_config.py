"""Feature configs: JSON round trip, stable hashes, registry, input specs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genrelab.features import feature_kinds
from genrelab.features.config import FeatureConfig, InputSpec
from genrelab.features.gtzan57 import GTZAN57
from genrelab.features.images import SpectrogramImage
from genrelab.features.presets import parse_spec, preset, preset_names
from genrelab.features.spectral import MFCC, MelSpectrogram, Spectrogram, saintfelix_mfcc_spec
from genrelab.types import ConfigError

CONFIGS = [
    MelSpectrogram(), MelSpectrogram(n_mels=96, fmax=8000.0, ref=1.0, top_db=None), Spectrogram(n_bins=128, n_frames=512),
    MFCC(n_mfcc=13, time_major=True), GTZAN57(), SpectrogramImage(width=128, height=128, channels=1),
]


def test_kinds_registered():
    assert {"mel", "stft", "mfcc", "gtzan57", "image"} <= set(feature_kinds())


def test_family_map_matches_registrations():
    # from_dict imports only the family FAMILY_OF_KIND names, so the map must say where each built-in kind lives
    from genrelab.features.config import _FEATURES, FAMILIES, FAMILY_OF_KIND

    feature_kinds()
    builtin = {k: c.__module__.rsplit(".", 1)[-1] for k, c in _FEATURES.items()
               if c.__module__.rsplit(".", 1)[-1] in FAMILIES}
    assert builtin == FAMILY_OF_KIND


def test_reading_a_config_imports_only_its_family():
    import subprocess
    import sys

    code = ("import sys; from genrelab.features.config import InputSpec, FeatureConfig; "
            "FeatureConfig.from_dict({'kind': 'musicnn', 'model': 'MSD_musicnn'}); "
            "print(sorted(m for m in ('librosa', 'scipy', 'numba', 'torch', 'genrelab.features.spectral') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.kind)
def test_round_trip_through_json(cfg):
    d = json.loads(json.dumps(cfg.to_dict()))
    back = FeatureConfig.from_dict(d)
    assert back == cfg and type(back) is type(cfg)
    assert back.hash() == cfg.hash()


def test_hash_is_stable_and_sensitive():
    # hard-coded: a change here means every existing cache entry and checkpoint key changes
    assert MelSpectrogram().hash() == "c73b018c0543bbbe"
    assert MelSpectrogram(n_mels=64).hash() != MelSpectrogram().hash()
    assert MelSpectrogram(sample_rate=16000).hash() != MelSpectrogram().hash()
    spec = InputSpec(feature=MelSpectrogram(), clip_seconds=30.0)
    assert spec.hash() != InputSpec(feature=MelSpectrogram(), clip_seconds=29.0).hash()
    assert InputSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_unknown_parameter_and_kind_rejected():
    with pytest.raises(ConfigError):
        FeatureConfig.from_dict({"kind": "mel", "n_melz": 3})
    with pytest.raises(ConfigError):
        FeatureConfig.from_dict({"kind": "nope"})
    with pytest.raises(ConfigError):
        MelSpectrogram(ref="loud")
    with pytest.raises(ConfigError):
        SpectrogramImage(channels=2)


@pytest.mark.parametrize("name", preset_names())
def test_presets_round_trip(name):
    spec = preset(name)
    assert InputSpec.from_dict(spec.to_dict()) == spec
    assert parse_spec(name) == spec


def test_parse_spec_json_forms(tmp_path):
    assert parse_spec('{"kind": "mel", "n_mels": 64}').feature == MelSpectrogram(n_mels=64)
    full = InputSpec(feature=MFCC(n_mfcc=13), clip_seconds=10.0)
    assert parse_spec(json.dumps(full.to_dict())) == full
    p = tmp_path / "spec.json"
    p.write_text(json.dumps(full.to_dict()))
    assert parse_spec(str(p)) == full
    with pytest.raises(ConfigError):
        parse_spec("no-such-feature")
    with pytest.raises(ConfigError):
        parse_spec("{not json")


def test_saintfelix_spec_shapes():
    spec = saintfelix_mfcc_spec()
    y = np.random.default_rng(0).standard_normal(22050 * 30).astype(np.float32)
    ex = spec.examples(y)
    assert ex.shape == (10, 125, 13) and ex.dtype == np.float32
    # 29 s at 22050 Hz is exactly 10 slices of 63,945 samples; 1 + 63945 // 512 = 125 centred frames
    assert spec.frame(y).shape == (10, 63945)
    assert spec.feature.output_shape(63945) == (125, 13)


# --------------------------------------------------------------------------- window planning (one set of calls)
def _seg_spec(**kw):
    from inference_fixture import FixtureBands

    return InputSpec(feature=FixtureBands(), **{"clip_seconds": 30.0, "segment_seconds": 3.0, "hop_seconds": 3.0, **kw})


def test_spread_segment_model_reads_n_windows_spread_over_the_song():
    spec = _seg_spec()
    sr, w = spec.sample_rate, spec.window_samples
    assert w == 3 * sr and spec.hop_samples == 3 * sr and spec.per_window
    plan = spec.spread(240 * sr, 5)
    assert [n for _, n in plan] == [w] * 5
    assert plan[0][0] == 0 and plan[-1][0] == 240 * sr - w  # first and last window of the song
    assert len(spec.spread(7 * sr, 5)) == 3  # a short song: no more windows than it has
    offset = InputSpec(feature=spec.feature, segment_seconds=3.0, offset_seconds=1.0)
    assert offset.spread(10 * sr, 1)[0][0] >= sr  # the offset is part of the plan, in the track's samples


def test_spread_whole_clip_model_reads_a_digest_of_a_long_song():
    from inference_fixture import FixtureBands

    spec = InputSpec(feature=FixtureBands(), clip_seconds=6.0)
    sr = spec.sample_rate
    assert spec.spread(5 * sr, 5) == [(0, 5 * sr)]  # about a clip: the whole track
    plan = spec.spread(120 * sr, 5)
    assert len(plan) == 5 and all(n == spec.window_samples // 5 for _, n in plan)
    y = np.random.default_rng(0).standard_normal(120 * sr).astype(np.float32)
    (digest,) = spec.assemble([y[a:a + n] for a, n in plan])
    assert digest.size == spec.window_samples
    n = plan[0][1]
    for k, (a, _) in enumerate(plan):  # the digest is the planned pieces back to back
        assert np.array_equal(digest[k * n:(k + 1) * n], y[a:a + n])


def test_pooled_features_are_read_in_patches():
    from genrelab.features.musicnn import MusicnnEmbedding

    spec = InputSpec(feature=MusicnnEmbedding(), clip_seconds=30.0)
    patch = MusicnnEmbedding().patch_samples
    assert spec.piece_samples(5) == patch and spec.pieces_per_track(5) == round(30 * 16000 / patch) == 10
    plan = spec.spread(240 * 16000, 5)
    assert len(plan) == 10 and {n for _, n in plan} == {patch}


def test_sliding_windows_do_not_depend_on_how_the_signal_is_cut_into_blocks():
    spec = _seg_spec(offset_seconds=0.5)
    sr = spec.sample_rate
    y = np.random.default_rng(1).standard_normal(int(10.2 * sr)).astype(np.float32)
    whole = list(spec.sliding([y]))
    blocks = list(spec.sliding(np.array_split(y, 7)))
    assert [s for s, _ in whole] == [s for s, _ in blocks] == [int(0.5 * sr) + k * 3 * sr for k in range(3)]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(whole, blocks))
    # the windows are the training frames of the same track (training, evaluation and inference cut alike)
    assert np.array_equal(np.stack([w for _, w in whole]), spec.frame(y)[:3])


def test_examples_are_the_window_examples_of_the_training_frames():
    from genrelab.features.gtzan57 import qin_lstm_spec

    spec = _seg_spec()
    y = np.random.default_rng(2).standard_normal(9 * spec.sample_rate).astype(np.float32)
    assert np.array_equal(spec.examples(y), spec.window_examples(list(spec.frame(y))))
    grouped = qin_lstm_spec()  # one example per clip: the clip's sequence of segments
    seg = grouped.segment_samples or int(round(grouped.segment_seconds * grouped.sample_rate))
    hop = int(round(grouped.hop_seconds * grouped.sample_rate)) if grouped.hop_seconds else seg
    assert not grouped.per_window and grouped.window_samples == seg + hop * (grouped.n_segments - 1)
    clip = np.random.default_rng(3).standard_normal(grouped.window_samples).astype(np.float32)
    assert grouped.window_examples([clip]).shape == grouped.examples(clip).shape


def test_compute_many_takes_an_array_batch_as_it_takes_a_list():
    """InputSpec.examples hands its segments over as one array (no list and re-stack): same numbers as the list
    path and as each segment alone."""
    import numpy as np

    from genrelab.features.config import InputSpec
    from genrelab.features.spectral import MelSpectrogram

    y = np.random.default_rng(0).standard_normal(22050 * 4).astype(np.float32)
    spec = InputSpec(feature=MelSpectrogram(n_mels=32), clip_seconds=4.0, segment_seconds=1.0)
    frames = spec.frame(y)
    assert isinstance(frames, np.ndarray) and frames.shape == (4, 22050)
    as_array = spec.feature.compute_many(frames)
    np.testing.assert_array_equal(as_array, spec.feature.compute_many(list(frames)))
    np.testing.assert_array_equal(spec.examples(y), as_array)
    np.testing.assert_allclose(as_array[2], spec.feature.compute(frames[2]), rtol=0, atol=1e-4)
