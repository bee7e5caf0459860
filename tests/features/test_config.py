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
