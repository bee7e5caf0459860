"""musicnn (Pons & Serra 2019) in PyTorch, with the pretrained weights the ``musicnn`` wheel ships.

Two architectures, four pretrained taggers (50 tags each):

- ``musicnn`` (MSD_musicnn, MTT_musicnn): a musically motivated front end (two *timbral* convolutions
  spanning 7 frames x 38 / 67 mel bands and three *temporal* convolutions of 128 / 64 / 32 frames x 1
  band, each conv -> ReLU -> BatchNorm -> max over frequency; 561 channels), a mid end of three 1-D
  convolutions (64 channels, kernel 7, the last two residual) densely connected to the front end (753
  channels), and a back end that pools over time (max and mean, interleaved -> 1506), BatchNorm,
  a 200-unit dense layer (ReLU, BatchNorm: the *penultimate* layer) and the 50-tag output.
- ``vgg`` (MSD_vgg, MTT_vgg): five 3x3 conv (128) -> ReLU -> BatchNorm -> max-pool blocks and a dense output.

Input contract (all four): 16 kHz mono, log-compressed mel spectrogram (n_fft 512, hop 256, 96 bands,
power 2, ``log10(10000 x + 1)``), patches of 187 frames (3 s) shaped ``(batch, 187, 96)`` = frames x bands.
The preprocessing lives in :mod:`genrelab.features.musicnn`.

Weights are read from the installed ``musicnn`` package's TF1 checkpoints by
:mod:`genrelab.models.tfcheckpoint` (no TensorFlow) and converted once to safetensors in the cache
(:func:`cache_dir`). Conversion facts: TF kernels are HWIO (PyTorch wants OIHW); TF BatchNorm eps is
1e-3 (momentum 0.99 -> PyTorch 0.01); TF 'same' padding of an even kernel puts the extra frame at the end.

Registered models: ``musicnn-msd``, ``musicnn-mtt``, ``vgg-msd``, ``vgg-mtt`` (the taggers; with
``n_classes != 50`` the tag layer is replaced by a new one) and ``musicnn`` (a pretrained backbone
plus a new classification head, for fine-tuning on genres).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genrelab.models import musicnn_info as _info
from genrelab.models.musicnn_info import (  # noqa: F401  (re-exported: the torch-free facts)
    CONVERSION_VERSION,
    MSD_LABELS,
    MTT_LABELS,
    PACKAGE,
    PIP_HINT,
    PRETRAINED,
    MusicnnUnavailable,
    cache_dir,
    check_model_name,
    labels,
    weights_path,
)
from genrelab.models.registry import InputContract, register
from genrelab.types import ConfigError

# --------------------------------------------------------------------------- constants
SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
#: Samples that give exactly 187 centred STFT frames (used when a training segment is cut from audio).
PATCH_SAMPLES = (PATCH_FRAMES - 1) * HOP
BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # TF's 0.99 as PyTorch defines momentum
#: In eval mode without autograd, the front-end branches take a fused path (see ``_FreqMaxBranch``);
#: set False to run the plain conv -> ReLU -> BatchNorm -> max everywhere (benchmark baseline).
FUSED_INFERENCE = True

#: Intermediate outputs each architecture can return (see ``forward_features``).
MUSICNN_LAYERS = ("timbral", "temporal", "cnn1", "cnn2", "cnn3", "max_pool", "mean_pool", "penultimate",
                  "logits", "taggram")
VGG_LAYERS = ("pool1", "pool2", "pool3", "pool4", "pool5", "penultimate", "logits", "taggram")


# --------------------------------------------------------------------------- architectures
def _bn2d(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


def _bn1d(c: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


def _as_frames_by_bands(x: torch.Tensor) -> torch.Tensor:
    """Accept ``(B, T, F)`` or ``(B, 1, T, F)``; return ``(B, 1, T, F)``."""
    if x.dim() == 3:
        return x.unsqueeze(1)
    if x.dim() == 4 and x.shape[1] == 1:
        return x
    raise ValueError(f"musicnn expects (batch, frames, {N_MELS}) or (batch, 1, frames, {N_MELS}), got {tuple(x.shape)}")


class _FreqMaxBranch(nn.Module):
    """conv -> ReLU -> BatchNorm -> max over all frequency positions: ``(B, 1, T', F) -> (B, C, T)``."""

    def __init__(self, filters: int, kernel: tuple[int, int], pad_time: tuple[int, int], n_mels: int = N_MELS):
        super().__init__()
        self.pad_time = pad_time
        self.out_width = n_mels - kernel[1] + 1  # frequency positions of the 'valid' conv
        self.conv = nn.Conv2d(1, filters, kernel)
        self.bn = _bn2d(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pad_time):
            x = F.pad(x, (0, 0, *self.pad_time))
        if self.training or torch.is_grad_enabled() or not FUSED_INFERENCE:
            return self.bn(F.relu(self.conv(x))).amax(dim=3)
        # Inference: BN is a per-channel affine a*y+b, so max_f(a*relu(z)+b) = a*relu(max_f z)+b when a >= 0
        # and a*relu(min_f z)+b = a*relu(-max_f(-z))+b when a < 0. Negating the conv of the channels with
        # a < 0 (exact in floating point) leaves one max-pool over frequency on the raw conv output and
        # skips the element-wise passes over the large (B, C, T, F) map.
        a, b = _bn_affine(self.bn)
        s = torch.where(a < 0, -torch.ones_like(a), torch.ones_like(a))
        z = F.conv2d(x, self.conv.weight * s.view(-1, 1, 1, 1), self.conv.bias * s)
        m = F.max_pool2d(z, kernel_size=(1, self.out_width)).squeeze(3)
        r = F.relu(m * s.view(1, -1, 1))
        return torch.addcmul(b.view(1, -1, 1), r, a.view(1, -1, 1))


def _bn_affine(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


class MusicnnNet(nn.Module):
    """The musicnn tagger: timbral/temporal front end, dense mid end, max/mean-pool back end.

    ``forward(x)`` with ``x`` ``(B, 187, 96)`` (any number of frames >= 1 works) returns tag logits;
    :meth:`forward_features` returns every named intermediate output.
    """

    def __init__(self, n_classes: int | None = 50, n_mels: int = N_MELS, num_filt_frontend: float = 1.6,
                 num_filt_midend: int = 64, num_units_backend: int = 200):
        super().__init__()
        self.n_mels = n_mels
        timbral_filters = int(num_filt_frontend * 128)
        temporal_filters = int(num_filt_frontend * 32)
        self.input_bn = _bn2d(1)
        self.timbral = nn.ModuleList([
            _FreqMaxBranch(timbral_filters, (7, int(0.4 * n_mels)), (3, 3), n_mels),
            _FreqMaxBranch(timbral_filters, (7, int(0.7 * n_mels)), (3, 3), n_mels),
        ])
        # TF 'same' for a kernel of k frames pads (k-1)//2 before and the rest (one more) after.
        self.temporal = nn.ModuleList([
            _FreqMaxBranch(temporal_filters, (k, 1), ((k - 1) // 2, k - 1 - (k - 1) // 2), n_mels) for k in (128, 64, 32)
        ])
        front = 2 * timbral_filters + 3 * temporal_filters
        self.frontend_channels = front
        self.midend_conv = nn.ModuleList([
            nn.Conv1d(front, num_filt_midend, 7, padding=3),
            nn.Conv1d(num_filt_midend, num_filt_midend, 7, padding=3),
            nn.Conv1d(num_filt_midend, num_filt_midend, 7, padding=3),
        ])
        self.midend_bn = nn.ModuleList([_bn1d(num_filt_midend) for _ in range(3)])
        self.pool_channels = front + 3 * num_filt_midend
        self.pool_bn = _bn1d(2 * self.pool_channels)
        self.dropout1 = nn.Dropout(0.5)
        self.dense = nn.Linear(2 * self.pool_channels, num_units_backend)
        self.dense_bn = _bn1d(num_units_backend)
        self.dropout2 = nn.Dropout(0.5)
        self.embedding_dim = num_units_backend
        self.out = nn.Linear(num_units_backend, n_classes) if n_classes else None

    def forward_features(self, x: torch.Tensor, layers: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Named outputs for a batch of patches (all of :data:`MUSICNN_LAYERS` when ``layers`` is None).

        Shapes: timbral ``(B, 408, T)``, temporal ``(B, 153, T)``, cnn1/2/3 ``(B, 64, T)``, max_pool and
        mean_pool ``(B, 753)``, penultimate ``(B, 200)``, logits and taggram ``(B, 50)``.
        """
        x = self.input_bn(_as_frames_by_bands(x))
        feats = [branch(x) for branch in self.timbral] + [branch(x) for branch in self.temporal]
        front = torch.cat(feats, dim=1)
        c1 = self.midend_bn[0](F.relu(self.midend_conv[0](front)))
        c2 = self.midend_bn[1](F.relu(self.midend_conv[1](c1))) + c1
        c3 = self.midend_bn[2](F.relu(self.midend_conv[2](c2))) + c2
        mid = torch.cat([front, c1, c2, c3], dim=1)
        max_pool = mid.amax(dim=2)
        mean_pool = mid.mean(dim=2)
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # interleaved: max0, mean0, max1, ...
        flat = self.dropout1(self.pool_bn(flat))
        penultimate = self.dense_bn(F.relu(self.dense(flat)))
        out = {
            "timbral": front[:, : 2 * self.timbral[0].conv.out_channels],
            "temporal": front[:, 2 * self.timbral[0].conv.out_channels:],
            "cnn1": c1, "cnn2": c2, "cnn3": c3,
            "max_pool": max_pool, "mean_pool": mean_pool, "penultimate": penultimate,
        }
        if self.out is not None:
            logits = self.out(self.dropout2(penultimate))
            out["logits"] = logits
            out["taggram"] = torch.sigmoid(logits)
        if layers is not None:
            out = {k: out[k] for k in layers}
        return out

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer (200-d), the input of the tag layer."""
        return self.forward_features(x, ("penultimate",))["penultimate"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.out is None:
            raise RuntimeError("this musicnn backbone has no output layer; use embed()")
        return self.out(self.dropout2(self.embed(x)))


class VggNet(nn.Module):
    """The musicnn package's VGG-like tagger: 5 x (3x3 conv -> ReLU -> BatchNorm -> max-pool), dense output."""

    def __init__(self, n_classes: int | None = 50, num_filters: int = 128, n_frames: int = PATCH_FRAMES,
                 n_mels: int = N_MELS):
        super().__init__()
        self.input_bn = _bn2d(1)
        chans = [1] + [num_filters] * 5
        self.convs = nn.ModuleList([nn.Conv2d(chans[i], chans[i + 1], 3, padding=1) for i in range(5)])
        self.bns = nn.ModuleList([_bn2d(num_filters) for _ in range(5)])
        self.pools = nn.ModuleList([
            nn.MaxPool2d((4, 1), (2, 2)), nn.MaxPool2d(2, 2), nn.MaxPool2d(2, 2), nn.MaxPool2d(2, 2),
            nn.MaxPool2d(4, 4),
        ])
        self.dropouts = nn.ModuleList([nn.Dropout(0.25) for _ in range(4)] + [nn.Dropout(0.5)])
        h, w = n_frames, n_mels
        for p in self.pools:
            (kh, kw), (sh, sw) = _pair(p.kernel_size), _pair(p.stride)
            h, w = (h - kh) // sh + 1, (w - kw) // sw + 1
        if h < 1 or w < 1:
            raise ConfigError(f"vgg needs longer patches than {n_frames} x {n_mels}")
        self.embedding_dim = h * w * num_filters
        self.out = nn.Linear(self.embedding_dim, n_classes) if n_classes else None

    def forward_features(self, x: torch.Tensor, layers: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Named outputs: pool1..pool5 ``(B, 128, H, W)`` (NCHW), penultimate = pool5 flattened in TF's
        NHWC order ``(B, 256)``, logits and taggram ``(B, 50)``."""
        h = self.input_bn(_as_frames_by_bands(x))
        out: dict[str, torch.Tensor] = {}
        for i in range(5):
            h = self.pools[i](self.bns[i](F.relu(self.convs[i](h))))
            out[f"pool{i + 1}"] = h
            if i < 4:
                h = self.dropouts[i](h)
        flat = h.permute(0, 2, 3, 1).flatten(1)
        out["penultimate"] = flat
        if self.out is not None:
            logits = self.out(self.dropouts[4](flat))
            out["logits"] = logits
            out["taggram"] = torch.sigmoid(logits)
        if layers is not None:
            out = {k: out[k] for k in layers}
        return out

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """pool5 flattened (256-d), the input of the tag layer."""
        return self.forward_features(x, ("penultimate",))["penultimate"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.out is None:
            raise RuntimeError("this vgg backbone has no output layer; use embed()")
        return self.out(self.dropouts[4](self.embed(x)))


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]


def flops_per_patch(n_frames: int = PATCH_FRAMES, n_mels: int = N_MELS) -> int:
    """Floating-point operations (2 per multiply-add) of one musicnn patch, direct convolution."""
    macs = 0
    for filters, kh, kw in ((204, 7, int(0.4 * n_mels)), (204, 7, int(0.7 * n_mels))):
        macs += n_frames * (n_mels - kw + 1) * filters * kh * kw
    macs += n_frames * n_mels * 51 * (128 + 64 + 32)
    macs += n_frames * 64 * 7 * (561 + 64 + 64)
    macs += 1506 * 200 + 200 * 50
    return 2 * macs


def build_net(model: str, n_classes: int | None = 50) -> nn.Module:
    """An untrained network with the architecture of pretrained ``model`` (e.g. ``MSD_musicnn``)."""
    arch = PRETRAINED[check_model_name(model)]["arch"]
    return MusicnnNet(n_classes) if arch == "musicnn" else VggNet(n_classes)


# --------------------------------------------------------------------------- TF -> PyTorch conversion
def _conv2d(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1))  # HWIO -> OIHW


def _conv1d_from_full_width(w: np.ndarray) -> np.ndarray:
    # mid-end: a TF conv2d (7, C, 1, O) over (time, channels-as-width, 1) is a Conv1d (O, C, 7).
    return np.ascontiguousarray(w[:, :, 0, :].transpose(2, 1, 0))


def _bn(tf: dict[str, np.ndarray], tf_name: str, pt_name: str) -> dict[str, np.ndarray]:
    return {
        f"{pt_name}.weight": tf[f"{tf_name}/gamma"],
        f"{pt_name}.bias": tf[f"{tf_name}/beta"],
        f"{pt_name}.running_mean": tf[f"{tf_name}/moving_mean"],
        f"{pt_name}.running_var": tf[f"{tf_name}/moving_variance"],
    }


def _bn_name(i: int) -> str:
    return "batch_normalization" if i == 0 else f"batch_normalization_{i}"


def _conv_name(i: int) -> str:
    return "conv2d" if i == 0 else f"conv2d_{i}"


def convert_tf_weights(tf: dict[str, np.ndarray], arch: str) -> dict[str, np.ndarray]:
    """Map TF variable names/layouts (see ``musicnn/models.py``) to this module's state dict."""
    sd: dict[str, np.ndarray] = {}
    if arch == "musicnn":
        sd.update(_bn(tf, _bn_name(0), "input_bn"))
        branches = [f"timbral.{i}" for i in range(2)] + [f"temporal.{i}" for i in range(3)]
        for i, name in enumerate(branches):  # TF creation order: conv2d..conv2d_4, batch_normalization_1.._5
            sd[f"{name}.conv.weight"] = _conv2d(tf[f"{_conv_name(i)}/kernel"])
            sd[f"{name}.conv.bias"] = tf[f"{_conv_name(i)}/bias"]
            sd.update(_bn(tf, _bn_name(i + 1), f"{name}.bn"))
        for j in range(3):
            sd[f"midend_conv.{j}.weight"] = _conv1d_from_full_width(tf[f"{_conv_name(5 + j)}/kernel"])
            sd[f"midend_conv.{j}.bias"] = tf[f"{_conv_name(5 + j)}/bias"]
            sd.update(_bn(tf, _bn_name(6 + j), f"midend_bn.{j}"))
        sd.update(_bn(tf, _bn_name(9), "pool_bn"))
        sd["dense.weight"] = np.ascontiguousarray(tf["dense/kernel"].T)
        sd["dense.bias"] = tf["dense/bias"]
        sd.update(_bn(tf, _bn_name(10), "dense_bn"))
        sd["out.weight"] = np.ascontiguousarray(tf["dense_1/kernel"].T)
        sd["out.bias"] = tf["dense_1/bias"]
    elif arch == "vgg":
        sd.update(_bn(tf, _bn_name(0), "input_bn"))
        for i in range(5):
            sd[f"convs.{i}.weight"] = _conv2d(tf[f"{i + 1}CNN/kernel"])
            sd[f"convs.{i}.bias"] = tf[f"{i + 1}CNN/bias"]
            sd.update(_bn(tf, _bn_name(i + 1), f"bns.{i}"))
        sd["out.weight"] = np.ascontiguousarray(tf["dense/kernel"].T)
        sd["out.bias"] = tf["dense/bias"]
    else:
        raise ConfigError(f"unknown musicnn architecture {arch!r}")
    unused = set(tf) - _used_tf_names(arch, tf)
    if unused:
        raise ConfigError(f"checkpoint variables not mapped to the {arch} port: {sorted(unused)}")
    return {k: np.asarray(v, dtype=np.float32) for k, v in sd.items()}


def _used_tf_names(arch: str, tf: dict[str, np.ndarray]) -> set[str]:
    n_bn = 11 if arch == "musicnn" else 6
    names = {f"{_bn_name(i)}/{v}" for i in range(n_bn) for v in ("gamma", "beta", "moving_mean", "moving_variance")}
    if arch == "musicnn":
        names |= {f"{_conv_name(i)}/{v}" for i in range(8) for v in ("kernel", "bias")}
        names |= {"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"}
    else:
        names |= {f"{i}CNN/{v}" for i in range(1, 6) for v in ("kernel", "bias")} | {"dense/kernel", "dense/bias"}
    return names


# --------------------------------------------------------------------------- weights: package, cache
def _find_package() -> Any:
    return _info.find_package()


def package_dir() -> Path:
    """The installed ``musicnn`` package folder (found without importing it, so without TensorFlow)."""
    return _info.package_dir_of(_find_package())


def checkpoint_dir(model: str) -> Path:
    return _info.checkpoint_dir_in(package_dir(), model)


def _source_fingerprint(ckpt: Path) -> str:
    return _info.source_fingerprint(ckpt)


_WEIGHTS_LOCK = threading.Lock()
_WEIGHTS_MEMO: dict[str, dict[str, torch.Tensor]] = {}


def pretrained_state_dict(model: str) -> dict[str, torch.Tensor]:
    """The PyTorch state dict of pretrained ``model``; converted from the TF checkpoint on first use
    and cached as safetensors (:func:`weights_path`)."""
    from safetensors.torch import load_file, save_file

    check_model_name(model)
    with _WEIGHTS_LOCK:
        if model in _WEIGHTS_MEMO:
            return {k: v.clone() for k, v in _WEIGHTS_MEMO[model].items()}
        path = weights_path(model)
        fingerprint = None
        try:
            fingerprint = _source_fingerprint(checkpoint_dir(model))
        except MusicnnUnavailable:
            if not path.is_file():
                raise
        state = None
        if path.is_file():
            from safetensors import safe_open

            try:
                with safe_open(str(path), "pt") as f:
                    meta = f.metadata() or {}
                if meta.get("conversion") == CONVERSION_VERSION and (fingerprint is None or meta.get("source") == fingerprint):
                    state = load_file(str(path))
            except Exception:  # unreadable cache: rebuild it
                state = None
        if state is None:
            from genrelab.models import tfcheckpoint

            ckpt = checkpoint_dir(model)
            arrays = convert_tf_weights(tfcheckpoint.read_checkpoint(ckpt), PRETRAINED[model]["arch"])
            state = {k: torch.from_numpy(v) for k, v in arrays.items()}
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            try:
                save_file(state, tmp, metadata={"conversion": CONVERSION_VERSION, "source": fingerprint or "",
                                                "model": model, "from": str(ckpt)})
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except OSError:
                Path(tmp).unlink(missing_ok=True)  # read-only cache: still usable from memory
        _WEIGHTS_MEMO[model] = state
        return {k: v.clone() for k, v in state.items()}


def load_pretrained(model: str, n_classes: int | None = 50) -> nn.Module:
    """The pretrained tagger ``model`` in eval mode. ``n_classes=None`` drops the tag layer."""
    net = build_net(model, n_classes if n_classes else None)
    state = pretrained_state_dict(model)
    if n_classes != len(PRETRAINED[model]["labels"]):
        state = {k: v for k, v in state.items() if not k.startswith("out.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("out.")]
    if missing or unexpected:
        raise ConfigError(f"{model}: converted weights do not fit the port (missing {missing}, unexpected {unexpected})")
    return net.eval()


# --------------------------------------------------------------------------- registry entries
def _contract() -> InputContract:
    from genrelab.features.config import InputSpec
    from genrelab.features.musicnn import MusicnnMel

    spec = InputSpec(feature=MusicnnMel(), segment_samples=PATCH_SAMPLES)
    return InputContract(spec, (PATCH_FRAMES, N_MELS))


class _Tagger(nn.Module):
    """Base of the four registered pretrained taggers."""

    source: str = ""

    def __init__(self, n_classes: int = 50, pretrained: bool = True):
        super().__init__()
        n_tags = len(PRETRAINED[self.source]["labels"])
        if pretrained:
            self.net = load_pretrained(self.source, n_classes)
            self.net.train()
        else:
            self.net = build_net(self.source, n_classes)
        self.n_classes = n_classes
        self.replaced_head = n_classes != n_tags

    @classmethod
    def input_contract(cls) -> InputContract:
        return _contract()

    @property
    def tag_labels(self) -> list[str]:
        return labels(self.source)

    def forward_features(self, x: torch.Tensor, layers: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        return self.net.forward_features(x, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register("musicnn-msd", family="musicnn", tags=("pretrained", "tagger"))
class MusicnnMSD(_Tagger):
    """musicnn tagger pretrained on the Million Song Dataset (50 Last.fm tags)."""

    source = "MSD_musicnn"


@register("musicnn-mtt", family="musicnn", tags=("pretrained", "tagger"))
class MusicnnMTT(_Tagger):
    """musicnn tagger pretrained on MagnaTagATune (50 tags)."""

    source = "MTT_musicnn"


@register("vgg-msd", family="musicnn", tags=("pretrained", "tagger"))
class VggMSD(_Tagger):
    """VGG-like tagger of the musicnn package, pretrained on the Million Song Dataset (50 tags)."""

    source = "MSD_vgg"


@register("vgg-mtt", family="musicnn", tags=("pretrained", "tagger"))
class VggMTT(_Tagger):
    """VGG-like tagger of the musicnn package, pretrained on MagnaTagATune (50 tags)."""

    source = "MTT_vgg"


@register("musicnn", family="musicnn", tags=("pretrained", "transfer"))
class MusicnnClassifier(nn.Module):
    """Pretrained musicnn (or vgg) backbone + a new classification head, for fine-tuning on genres.

    ``backbone``: one of MSD_musicnn (default), MTT_musicnn, MSD_vgg, MTT_vgg. The head is dropout +
    linear on the backbone's penultimate layer (200-d musicnn, 256-d vgg); ``hidden`` > 0 inserts an
    MLP layer. ``freeze_backbone`` trains the head only (the backbone stays in eval mode: BatchNorm
    statistics frozen). ``pretrained=False`` starts from random weights (a from-scratch baseline).
    Input: log-mel patches ``(B, 187, 96)`` (feature ``musicnn-mel``); output: logits ``(B, n_classes)``.
    """

    def __init__(self, n_classes: int, backbone: str = "MSD_musicnn", pretrained: bool = True,
                 dropout: float = 0.5, hidden: int = 0, freeze_backbone: bool = False):
        super().__init__()
        check_model_name(backbone)
        self.backbone = load_pretrained(backbone, None) if pretrained else build_net(backbone, None)
        self.freeze_backbone = bool(freeze_backbone)
        if self.freeze_backbone:
            for p in self.backbone.parameters():
                p.requires_grad_(False)
        dim = self.backbone.embedding_dim
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout)]
            dim = hidden
        layers.append(nn.Linear(dim, n_classes))
        self.head = nn.Sequential(*layers)
        self.train()

    @classmethod
    def input_contract(cls) -> InputContract:
        return _contract()

    def train(self, mode: bool = True) -> "MusicnnClassifier":
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.embed(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.embed(x))


def describe_weights() -> dict[str, dict[str, Any]]:
    """Where each pretrained model's converted weights are cached, and whether they are there yet."""
    return {m: {"cache": str(weights_path(m)), "cached": weights_path(m).is_file()} for m in PRETRAINED}
