"""musicnn (Pons & Serra 2019, "musicnn: pre-trained convolutional neural networks for music audio
tagging", ISMIR LBD) and the package's VGG-like tagger, in PyTorch.

Two architectures, four pretrained taggers (50 tags each):

- ``musicnn`` (MSD_musicnn, MTT_musicnn): a musically motivated front end (two *timbral* convolutions
  spanning 7 frames x 38 / 67 mel bands and three *temporal* convolutions of 128 / 64 / 32 frames x 1
  band, each conv -> ReLU -> BatchNorm -> max over frequency; 561 channels), a mid end of three 1-D
  convolutions (64 channels, kernel 7, the last two residual) densely connected to the front end (753
  channels), and a back end that pools over time (max and mean, interleaved -> 1506), BatchNorm,
  a 200-unit dense layer (ReLU, BatchNorm: the *penultimate* layer) and the 50-tag output.
- ``vgg`` (MSD_vgg, MTT_vgg): five 3x3 conv (128) -> ReLU -> BatchNorm -> max-pool blocks and a dense output.

Input (all four): log-mel patches ``(batch, 187, 96)`` = frames x bands from :mod:`genrelab.musicnn.dsp`;
output: tag logits ``(batch, 50)``. Conversion facts (see :mod:`genrelab.musicnn.weights`): TF BatchNorm eps
is 1e-3 (momentum 0.99 -> PyTorch 0.01); TF 'same' padding of an even kernel puts the extra frame at the end.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genrelab.musicnn.info import N_MELS, PATCH_FRAMES, PRETRAINED, check_model_name
from genrelab.types import ConfigError

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


class _TaggerNet(nn.Module):
    """What both architectures share: the tag layer on top of ``penultimate`` and the named-output helpers.
    Subclasses set ``out`` (the tag layer or None) and ``head_dropout`` (the dropout before it)."""

    out: nn.Linear | None
    head_dropout: nn.Module  # the dropout before the tag layer (a property of each subclass)

    def _finish(self, out: dict[str, torch.Tensor], layers: tuple[str, ...] | None) -> dict[str, torch.Tensor]:
        if self.out is not None:
            logits = self.out(self.head_dropout(out["penultimate"]))
            out["logits"] = logits
            out["taggram"] = torch.sigmoid(logits)
        return out if layers is None else {k: out[k] for k in layers}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer (musicnn: 200-d; vgg: pool5 flattened, 256-d), the input of the tag layer."""
        return self.forward_features(x, ("penultimate",))["penultimate"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.out is None:
            raise RuntimeError(f"this {type(self).__name__} backbone has no output layer; use embed()")
        return self.out(self.head_dropout(self.embed(x)))


class MusicnnNet(_TaggerNet):
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

    @property
    def head_dropout(self) -> nn.Module:
        return self.dropout2

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
        return self._finish(out, layers)


class VggNet(_TaggerNet):
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

    @property
    def head_dropout(self) -> nn.Module:
        return self.dropouts[4]

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
        out["penultimate"] = h.permute(0, 2, 3, 1).flatten(1)
        return self._finish(out, layers)


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
