"""What genrelab knows about the pretrained musicnn models without importing PyTorch.

The names, architectures and tag vocabularies of the four pretrained models, where the ``musicnn`` package
and the converted weights live, and the fingerprint that tells whether the converted weights are current.
:mod:`genrelab.models.musicnn` (the PyTorch port) re-exports all of it; :mod:`genrelab.features.musicnn`
uses it to start an ONNX Runtime session from the cache without importing torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

from genrelab.types import ConfigError, GenrelabError

PACKAGE = "musicnn"
PIP_HINT = "pip install --no-deps musicnn==0.1.0"
#: Bump when the conversion (names, layouts) changes: old cached files are then rebuilt.
CONVERSION_VERSION = "1"

MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
    "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop",
    "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice",
    "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)
MSD_LABELS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock",
    "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb",
    "indie pop", "sad", "House", "happy",
)

#: The pretrained models of the musicnn wheel: architecture and tag vocabulary.
PRETRAINED: dict[str, dict[str, Any]] = {
    "MSD_musicnn": {"arch": "musicnn", "labels": MSD_LABELS},
    "MTT_musicnn": {"arch": "musicnn", "labels": MTT_LABELS},
    "MSD_vgg": {"arch": "vgg", "labels": MSD_LABELS},
    "MTT_vgg": {"arch": "vgg", "labels": MTT_LABELS},
}


class MusicnnUnavailable(GenrelabError):
    """The ``musicnn`` package (which ships the pretrained weights) is not installed."""


def check_model_name(name: str) -> str:
    if name not in PRETRAINED:
        raise ConfigError(f"unknown musicnn model {name!r}; known: {', '.join(PRETRAINED)}")
    return name


def labels(model: str) -> list[str]:
    """The 50 tag names of a pretrained model."""
    return list(PRETRAINED[check_model_name(model)]["labels"])


def cache_dir() -> Path:
    """genrelab's cache folder: ``$GENRELAB_CACHE``, else ``$XDG_CACHE_HOME/genrelab``, else ``~/.cache/genrelab``."""
    env = os.environ.get("GENRELAB_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "genrelab"


def weights_path(model: str) -> Path:
    """Where the converted (safetensors) weights of pretrained ``model`` are cached."""
    return cache_dir() / "musicnn" / f"{check_model_name(model)}.safetensors"


def find_package() -> Any:
    """The import spec of the installed ``musicnn`` package (found without importing it), or None."""
    try:
        return importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None


def package_dir_of(spec: Any) -> Path:
    """The package folder of ``spec`` (:func:`find_package`); :class:`MusicnnUnavailable` when it is None."""
    if spec is None or not spec.submodule_search_locations:
        raise MusicnnUnavailable(
            "the pretrained musicnn weights come from the 'musicnn' package, which is not installed; "
            f"install it with: {PIP_HINT}  (no TensorFlow needed)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def checkpoint_dir_in(package: Path, model: str) -> Path:
    """The TF checkpoint folder of ``model`` inside the package folder ``package``."""
    d = package / check_model_name(model)
    if not (d / ".index").is_file() or not any(d.glob(".data-*")):
        raise MusicnnUnavailable(
            f"the musicnn package at {d.parent} has no {model} checkpoint (.index/.data files); "
            f"reinstall it with: {PIP_HINT}"
        )
    return d


def source_fingerprint(ckpt: Path) -> str:
    """Fingerprint of a TF checkpoint folder (and the conversion version) recorded in the converted weights."""
    h = hashlib.sha1(CONVERSION_VERSION.encode())
    for f in sorted(ckpt.iterdir()):
        if f.name.startswith((".index", ".data-")):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}".encode())
    return h.hexdigest()[:16]


def cached_weights_current(model: str, fingerprint: str | None = None, check_source: bool = True) -> bool:
    """Whether the converted weights of ``model`` are cached and current, as
    :func:`genrelab.models.musicnn.pretrained_state_dict` decides it (conversion version, and the source
    fingerprint when the ``musicnn`` package is installed), read without torch."""
    path = weights_path(model)
    if not path.is_file():
        return False
    if check_source and fingerprint is None:
        try:
            fingerprint = source_fingerprint(checkpoint_dir_in(package_dir_of(find_package()), model))
        except MusicnnUnavailable:
            fingerprint = None
    try:
        from safetensors import safe_open

        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
    except Exception:
        return False
    return meta.get("conversion") == CONVERSION_VERSION and (fingerprint is None or meta.get("source") == fingerprint)
