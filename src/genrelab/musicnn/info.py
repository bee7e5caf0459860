"""What genrelab knows about musicnn without importing PyTorch: constants, models, tags, where weights live.

The numbers of the input representation (defined here once, used by :mod:`~genrelab.musicnn.dsp`, the
network and the feature kinds), the names, architectures and tag vocabularies of the four pretrained
models, where their TF checkpoints come from (the installed ``musicnn`` package, or its wheel downloaded
into the cache by :mod:`~genrelab.musicnn.wheel`) and where the converted weights are cached.

**Patch length.** The original package cuts the spectrogram into patches of
``librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1 = 187`` frames, back to back
(``musicnn/extractor.py``), and its models were trained on 187-frame patches (``n_frames: 187`` in each
model's ``config.json``). One patch therefore advances 187 hops = :data:`PATCH_SAMPLES` = 47,872 samples
of audio; a segment of that many samples gives the 187 frames of its patch in the whole track's
spectrogram (``tests/test_musicnn.py`` checks both).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

from genrelab.types import ConfigError, GenrelabError

# --------------------------------------------------------------------------- the input representation
SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
#: Frames of one model input patch (3 s): ``librosa.time_to_frames(3, 16000, 256, n_fft=512) + 1``.
PATCH_FRAMES = 187
#: Samples one patch advances (and covers) on a stream: 187 hops.
PATCH_SAMPLES = PATCH_FRAMES * HOP
PATCH_SECONDS = PATCH_SAMPLES / SAMPLE_RATE

# --------------------------------------------------------------------------- the pretrained models
PACKAGE = "musicnn"
PACKAGE_VERSION = "0.1.0"
PIP_HINT = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"
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

#: Per-patch outputs of the inference engine (and of the ONNX export), by architecture.
ENGINE_OUTPUTS = {
    "musicnn": ("taggram", "max_pool", "mean_pool", "penultimate", "logits"),
    "vgg": ("taggram", "penultimate", "logits"),
}
#: Layers an embedding can summarise, per architecture, and their per-patch width.
EMBED_LAYERS = {
    "musicnn": {"penultimate": 200, "max_pool": 753, "mean_pool": 753, "taggram": 50, "logits": 50},
    "vgg": {"penultimate": 256, "taggram": 50, "logits": 50},
}


class MusicnnUnavailable(GenrelabError):
    """The pretrained musicnn weights cannot be found: no ``musicnn`` package and no usable download."""


def check_model_name(name: str) -> str:
    if name not in PRETRAINED:
        raise ConfigError(f"unknown musicnn model {name!r}; known: {', '.join(PRETRAINED)}")
    return name


def arch(model: str) -> str:
    """``"musicnn"`` or ``"vgg"``."""
    return PRETRAINED[check_model_name(model)]["arch"]


def labels(model: str) -> list[str]:
    """The 50 tag names of a pretrained model."""
    return list(PRETRAINED[check_model_name(model)]["labels"])


# --------------------------------------------------------------------------- where things live
def cache_root(cache_dir: Path | None = None) -> Path:
    """The musicnn folder of genrelab's cache (``<cache>/musicnn``; the cache of :class:`genrelab.runtime.Runtime`)."""
    if cache_dir is None:
        from genrelab.runtime import Runtime

        cache_dir = Runtime.from_env().cache_dir
    return Path(cache_dir) / "musicnn"


def weights_path(model: str, cache_dir: Path | None = None) -> Path:
    """Where the converted (safetensors) weights of pretrained ``model`` are cached."""
    return cache_root(cache_dir) / f"{check_model_name(model)}.safetensors"


def find_package() -> Any:
    """The import spec of the installed ``musicnn`` package (found without importing it), or None."""
    try:
        return importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None


def installed_package_dir() -> Path | None:
    """The installed ``musicnn`` package folder, or None."""
    spec = find_package()
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def is_checkpoint_dir(d: Path) -> bool:
    """Whether ``d`` holds a TF checkpoint as the wheel ships it (``.index`` and ``.data-*``)."""
    return (d / ".index").is_file() and any(d.glob(".data-*"))


def downloaded_dir(cache_dir: Path | None = None) -> Path:
    """Where the checkpoints read from the downloaded wheel live: ``<cache>/musicnn/musicnn-0.1.0/<model>``."""
    return cache_root(cache_dir) / f"{PACKAGE}-{PACKAGE_VERSION}"


def source_dir(model: str, cache_dir: Path | None = None) -> Path | None:
    """The TF checkpoint folder of ``model`` available now, without downloading: the installed package's,
    else the one extracted from the downloaded wheel (:mod:`genrelab.musicnn.wheel`), else None."""
    check_model_name(model)
    pkg = installed_package_dir()
    if pkg is not None and is_checkpoint_dir(pkg / model):
        return pkg / model
    extracted = downloaded_dir(cache_dir) / model
    return extracted if is_checkpoint_dir(extracted) else None


def source_fingerprint(ckpt: Path) -> str:
    """Fingerprint of a TF checkpoint folder (and the conversion version) recorded in the converted weights."""
    h = hashlib.sha1(CONVERSION_VERSION.encode())
    for f in sorted(ckpt.iterdir()):
        if f.name.startswith((".index", ".data-")):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}".encode())
    return h.hexdigest()[:16]


def cached_weights_current(model: str, cache_dir: Path | None = None) -> bool:
    """Whether the converted weights of ``model`` are cached and current, as
    :func:`genrelab.musicnn.weights.pretrained_state_dict` decides it (conversion version, and the source
    fingerprint when a checkpoint folder is available), read without torch."""
    path = weights_path(model, cache_dir)
    if not path.is_file():
        return False
    src = source_dir(model, cache_dir)
    fingerprint = source_fingerprint(src) if src is not None else None
    try:
        from safetensors import safe_open

        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
    except Exception:
        return False
    return meta.get("conversion") == CONVERSION_VERSION and (fingerprint is None or meta.get("source") == fingerprint)
