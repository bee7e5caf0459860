"""Liu, Vetshchaizer & Yip: CNN, CRNN and "duplicated" (parallel-branch) CNN/CRNN on FMA-small.

FMA-small (8 balanced top genres), one 128 x 128 grey mel-spectrogram image per 30 s clip (the
128-band log-mel spectrogram of the clip resampled to 16,000 Hz as the study does, resized to 128 time
columns, values scaled to [0, 1]). The
architectures follow the specifications of the study's repository as summarised in the project's
issue; where the summary leaves a detail open, the choice made here is stated in the class
docstring (Keras defaults throughout: 'valid' convolutions, 2 x 2 pooling, Glorot initialisation,
BatchNorm epsilon 1e-3 / momentum 0.99). The study gives the CNN ~300,000 and the CRNN ~1,000,000
parameters: the CNN's dense layer (128) and the CRNN's GRU width (288) are set so the counts match
(299,304 and 983,608 with 8 classes); the study's sentences are quoted in docs/models.md.

Layout: input ``(batch, 1, 128, 128)`` (``(batch, 128, 128)`` is accepted too: a channel axis is
added). Convolutions see mels as height (low frequencies at the bottom) and time as width; the
recurrent models read the width (time) axis.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genrelab.models.layers import keras_bn, keras_init_
from genrelab.models.registry import InputContract, register
from genrelab.types import ConfigError

N_MELS = 128
N_FRAMES = 128
BATCH_NORM = ("none", "end", "every")


def liu_contract() -> InputContract:
    """One 1 x 128 x 128 grey mel-spectrogram image (normalised dB) per 30 s clip
    (:func:`genrelab.features.images.liu_image_spec`)."""
    from genrelab.features.images import liu_image_spec

    return InputContract(liu_image_spec(), (1, N_MELS, N_FRAMES))


def _image(x: Tensor) -> Tensor:
    return x.unsqueeze(1) if x.ndim == 3 else x


def _to_sequence(fmap: Tensor) -> Tensor:
    """``(B, C, H=freq, W=time) -> (B, W, C * H)``: one feature vector per time step."""
    b, c, h, w = fmap.shape
    return fmap.permute(0, 3, 1, 2).reshape(b, w, c * h)


class _LiuBase(nn.Module):
    @classmethod
    def input_contract(cls) -> InputContract:
        return liu_contract()


def _conv_stack(batch_norm: str, dropout: float) -> tuple[nn.Sequential, tuple[int, int, int]]:
    """Conv 4 11x11 -> Conv 8 7x7 -> Conv 16 3x3, each [BN] ReLU MaxPool 2 [Dropout]; returns (stack, C/H/W).

    ``batch_norm``: ``"none"``, ``"end"`` (one BatchNorm after the last block: the study's CRNN) or
    ``"every"`` (Conv -> BN -> ReLU in every block: the earlier reading, a named variant).
    """
    if batch_norm not in BATCH_NORM:
        raise ConfigError(f"batch_norm must be one of {', '.join(BATCH_NORM)}, got {batch_norm!r}")
    layers: list[nn.Module] = []
    cin, size = 1, N_MELS
    for cout, k in ((4, 11), (8, 7), (16, 3)):
        layers.append(nn.Conv2d(cin, cout, k))
        if batch_norm == "every":
            layers.append(keras_bn(cout))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        cin, size = cout, (size - k + 1) // 2
    if batch_norm == "end":
        layers.append(keras_bn(cin))
    return nn.Sequential(*layers), (cin, size, size)  # 128 -> 59 -> 26 -> 12


@register("liu-cnn", family="liu", tags=("fma", "mel"))
class LiuCNN(_LiuBase):
    """Liu et al.'s CNN: Conv 4 11x11 -> Conv 8 7x7 -> Conv 16 3x3, each ReLU, MaxPool 2, Dropout 0.5
    -> flatten (16 x 12 x 12) -> Dense 128 ReLU -> n_classes (~300,000 parameters, as the study states).

    Input ``(batch, 1, 128, 128)`` mel image; output logits ``(batch, n_classes)`` (8 for FMA-small).
    ``dense=256`` is the earlier reading (595,882 parameters with 10 classes).
    """

    def __init__(self, n_classes: int = 8, dropout: float = 0.5, dense: int = 128):
        super().__init__()
        self.features, (c, h, w) = _conv_stack(batch_norm="none", dropout=dropout)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, dense), nn.ReLU(), nn.Linear(dense, n_classes))
        keras_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(_image(x)))


@register("liu-crnn", family="liu", tags=("fma", "mel", "sequence"))
class LiuCRNN(_LiuBase):
    """Liu et al.'s CRNN: the CNN's three convolutions (Conv -> ReLU -> MaxPool 2) and one BatchNorm at the
    end of the CNN, reshaped to time x features (12 steps x 16*12), GRU 288 -> GRU 288 (last step) ->
    Dense 128-128-64-32-16 ReLU -> n_classes (~1,000,000 parameters, as the study states).

    Input ``(batch, 1, 128, 128)``; output logits ``(batch, n_classes)``. Named variants:
    ``batch_norm="every"`` (BN in every conv block), ``gru_units=64`` (the earlier, 113,650-parameter reading).
    """

    def __init__(self, n_classes: int = 8, gru_units: int = 288, dense: tuple[int, ...] = (128, 128, 64, 32, 16),
                 batch_norm: str = "end"):
        super().__init__()
        self.features, (c, h, _w) = _conv_stack(batch_norm=batch_norm, dropout=0.0)
        self.gru1 = nn.GRU(c * h, gru_units, batch_first=True)
        self.gru2 = nn.GRU(gru_units, gru_units, batch_first=True)
        head: list[nn.Module] = []
        sizes = (gru_units, *dense)
        for a, b in zip(sizes[:-1], sizes[1:]):
            head += [nn.Linear(a, b), nn.ReLU()]
        head.append(nn.Linear(sizes[-1], n_classes))
        self.classifier = nn.Sequential(*head)
        keras_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        seq = _to_sequence(self.features(_image(x)))
        y, _ = self.gru1(seq)
        y, _ = self.gru2(y)
        return self.classifier(y[:, -1])


class DuplicatedBranches(nn.Module):
    """Liu et al.'s "duplicated" block: a stem, then four parallel branches concatenated on channels.

    Stem: Conv 4 11x11 ReLU -> Conv 4 7x7 ReLU (128 -> 118 -> 112). Branches on the stem's map:
    (a) MaxPool, (b) AveragePool, (c) Conv 8 5x5 ReLU -> MaxPool, (d) Conv 8 5x5 ReLU ->
    AveragePool, all ``pool x pool``. The 5x5 convolutions use 'same' padding so that the four
    branches keep one spatial size and can be concatenated (4 + 4 + 8 + 8 = 24 channels).
    """

    def __init__(self, pool: int = 2):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 11), nn.ReLU(), nn.Conv2d(4, 4, 7), nn.ReLU())
        self.max_branch = nn.MaxPool2d(pool)
        self.avg_branch = nn.AvgPool2d(pool)
        self.conv_max_branch = nn.Sequential(nn.Conv2d(4, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(pool))
        self.conv_avg_branch = nn.Sequential(nn.Conv2d(4, 8, 5, padding=2), nn.ReLU(), nn.AvgPool2d(pool))
        self.out_channels = 24
        self.out_size = (N_MELS - 10 - 6) // pool

    def forward(self, x: Tensor) -> Tensor:
        s = self.stem(x)
        return torch.cat([self.max_branch(s), self.avg_branch(s), self.conv_max_branch(s), self.conv_avg_branch(s)], 1)


@register("liu-dcnn", family="liu", tags=("fma", "mel"))
class LiuDCNN(_LiuBase):
    """Liu et al.'s duplicated CNN: :class:`DuplicatedBranches` (2 x 2 pooling) -> flatten
    (24 x 56 x 56) -> Dense 128 ReLU -> n_classes.

    Input ``(batch, 1, 128, 128)``; output logits ``(batch, n_classes)``. ``pool`` sets the branches'
    pooling size (2, Keras' default).
    """

    def __init__(self, n_classes: int = 8, pool: int = 2, dense: int = 128, dropout: float = 0.0):
        super().__init__()
        self.branches = DuplicatedBranches(pool)
        flat = self.branches.out_channels * self.branches.out_size ** 2
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, dense), nn.ReLU(), nn.Linear(dense, n_classes)
        )
        keras_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.branches(_image(x)))


@register("liu-dcrnn", family="liu", tags=("fma", "mel", "sequence"))
class LiuDCRNN(_LiuBase):
    """Liu et al.'s duplicated CRNN: :class:`DuplicatedBranches` with 2 x 2 pooling -> time x features
    (56 steps x 24*56) -> GRU 64 -> GRU 64 (last step) -> Dense 64 ReLU -> Dense 32 ReLU -> n_classes.

    Input ``(batch, 1, 128, 128)``; output logits ``(batch, n_classes)``.
    """

    def __init__(self, n_classes: int = 8, pool: int = 2, gru_units: int = 64, dense: tuple[int, int] = (64, 32)):
        super().__init__()
        self.branches = DuplicatedBranches(pool)
        feat = self.branches.out_channels * self.branches.out_size
        self.gru1 = nn.GRU(feat, gru_units, batch_first=True)
        self.gru2 = nn.GRU(gru_units, gru_units, batch_first=True)
        self.classifier = nn.Sequential(
            nn.Linear(gru_units, dense[0]), nn.ReLU(), nn.Linear(dense[0], dense[1]), nn.ReLU(),
            nn.Linear(dense[1], n_classes),
        )
        keras_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        seq = _to_sequence(self.branches(_image(x)))
        y, _ = self.gru1(seq)
        y, _ = self.gru2(y)
        return self.classifier(y[:, -1])


__all__ = ["BATCH_NORM", "LiuCNN", "LiuCRNN", "LiuDCNN", "LiuDCRNN", "DuplicatedBranches", "liu_contract"]
