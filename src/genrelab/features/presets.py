"""Named input specs (the ``--feature`` names of ``genrelab features extract``) and spec parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from genrelab.features.config import FeatureConfig, InputSpec
from genrelab.types import ConfigError


def _presets() -> dict[str, tuple[Callable[[], InputSpec], str]]:
    from genrelab.features import gtzan57, images, spectral

    return {
        "mel": (lambda: InputSpec(feature=spectral.MelSpectrogram()),
                "log-mel spectrogram (128 mels, n_fft 2048, hop 512, dB re max) of the whole track"),
        "mel-3s": (lambda: InputSpec(feature=spectral.MelSpectrogram(), clip_seconds=30.0, segment_seconds=3.0),
                   "log-mel spectrograms of the ten 3 s segments of the first 30 s"),
        "stft": (lambda: InputSpec(feature=spectral.Spectrogram()), "linear STFT power spectrogram in dB"),
        "feng-stft": (spectral.feng_stft_spec, "Feng et al.'s BiGRU input: 128 frames x 512 STFT bins per ~3 s excerpt"),
        "mfcc": (lambda: InputSpec(feature=spectral.MFCC(n_mfcc=20)), "20 MFCCs per frame (librosa defaults)"),
        "mfcc13": (lambda: InputSpec(feature=spectral.MFCC(n_mfcc=13)), "13 MFCCs per frame"),
        "saintfelix-mfcc": (spectral.saintfelix_mfcc_spec,
                            "Saint-Felix: 29 s, 10 slices of 63,945 samples, 13 MFCC -> (125, 13) each"),
        "gtzan57": (gtzan57.gtzan57_spec, "the 57 Kaggle GTZAN features of the whole clip (features_30_sec.csv)"),
        "gtzan57-3s": (gtzan57.gtzan57_3sec_spec, "the 57 features of ten 3 s segments (features_3_sec.csv)"),
        "qin-lstm": (gtzan57.qin_lstm_spec, "Qin's LSTM input: 9 segments x 57 features as one sequence"),
        "image": (images.kaggle_image_spec, "Kaggle images_original style: 4 x 288 x 432 RGBA mel image"),
        "qin-image": (images.qin_image_spec, "Qin's CNN input: 3 x 288 x 432 (alpha dropped)"),
        "omier-image": (images.omier_image_spec, "omier's 3 s images: ten 3 x 288 x 432 per 30 s clip"),
        "liu-image": (images.liu_image_spec, "Liu et al.'s 128 x 128 grey images"),
    }


def preset_names() -> list[str]:
    return list(_presets())


def describe_presets() -> list[tuple[str, str, str]]:
    """``(name, feature kind, description)`` of every preset."""
    return [(name, fn().feature.kind, desc) for name, (fn, desc) in _presets().items()]


def preset(name: str) -> InputSpec:
    table = _presets()
    if name not in table:
        raise ConfigError(f"unknown feature {name!r}; presets: {', '.join(table)} (or a JSON spec)")
    return table[name][0]()


def parse_spec(text: str | dict) -> InputSpec:
    """An :class:`InputSpec` from a preset name, a JSON string, a ``.json`` file, or a dict.

    JSON may be an input spec (``{"feature": {...}, "clip_seconds": 30}``) or a bare feature config
    (``{"kind": "mel", "n_mels": 96}``).
    """
    if isinstance(text, dict):
        d = text
    else:
        s = str(text).strip()
        if s.startswith("{"):
            try:
                d = json.loads(s)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"feature JSON does not parse: {exc}") from None
        elif s.endswith(".json") and Path(s).is_file():
            d = json.loads(Path(s).read_text())
        else:
            return preset(s)
    if "feature" in d:
        return InputSpec.from_dict(d)
    if "kind" in d:
        return InputSpec(feature=FeatureConfig.from_dict(d))
    raise ConfigError("feature JSON needs a 'kind' (feature config) or a 'feature' (input spec)")


__all__ = ["preset", "preset_names", "describe_presets", "parse_spec"]
